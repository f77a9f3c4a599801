package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v84/github"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

func (s *Handler) oauthConfig() *oauth2.Config {
	web := s.cfg.GitHub.webURL()
	return &oauth2.Config{
		ClientID:     s.cfg.GitHub.ClientID,
		ClientSecret: s.cfg.GitHub.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: web + "/login/oauth/authorize", TokenURL: web + "/login/oauth/access_token"},
		Scopes:       []string{"repo", "read:org"},
		RedirectURL:  s.public.String() + "/auth/github/callback",
	}
}

// handleGitHubLogin sends the browser to GitHub with a random state that
// the callback checks against a cookie.
func (s *Handler) handleGitHubLogin(c echo.Context) error {
	if s.cfg.GitHub.ClientID == "" {
		return store.Errorf(store.ENOTFOUND, "GitHub sign-in is not configured on this berth.")
	}
	state := store.NewID(16)
	s.setCookie(c, stateCookie, state, 600, time.Time{}, http.SameSiteLaxMode)
	return c.Redirect(http.StatusFound, s.oauthConfig().AuthCodeURL(state))
}

// signInErrors are the sentences the sign-in page shows for a failed GitHub
// sign-in; browsers are sent there with the key, never with free text.
var signInErrors = map[string]string{
	"github-state":     "The sign-in request expired or did not come from this browser; start again.",
	"github-denied":    "GitHub did not sign you in.",
	"github-code":      "GitHub refused the sign-in code; start again.",
	"github-user":      "GitHub did not say who you are; try again.",
	"github-forbidden": "Your GitHub account may not sign in to this berth.",
}

// handleGitHubCallback finishes sign-in. A browser that fails is sent back
// to the sign-in page with the reason; other clients get the JSON error.
func (s *Handler) handleGitHubCallback(c echo.Context) error {
	err := s.githubCallback(c)
	if err == nil || !strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		return err
	}
	key := map[string]string{store.EINVALID: "github-state", store.EFORBIDDEN: "github-forbidden",
		store.EUNAUTHORIZED: "github-code", store.ENOTFOUND: "github-denied"}[store.ErrorCode(err)]
	if key == "" {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/sign-in?error="+key)
}

// githubCallback checks state, exchanges the code, checks who may sign in,
// stores the token sealed and starts a session.
func (s *Handler) githubCallback(c echo.Context) error {
	if s.cfg.GitHub.ClientID == "" {
		return store.Errorf(store.ENOTFOUND, "GitHub sign-in is not configured on this berth.")
	}
	ticket, err := s.beginCredentialCheck(c)
	if err != nil {
		return err
	}
	err = s.finishGitHubSignIn(c)
	switch store.ErrorCode(err) {
	case store.EINVALID, store.EUNAUTHORIZED, store.EFORBIDDEN:
		ticket.done(true)
	default:
		ticket.done(false)
	}
	return err
}

// finishGitHubSignIn is the callback's work once it may go ahead.
func (s *Handler) finishGitHubSignIn(c echo.Context) error {
	want := s.readCookie(c, stateCookie)
	state := c.QueryParam("state")
	if want == "" || state == "" || !equalTokens(want, state) {
		return store.Errorf(store.EINVALID, "The sign-in request expired or did not come from this browser; start again.")
	}
	s.setCookie(c, stateCookie, "", -1, time.Time{}, http.SameSiteLaxMode)
	if e := c.QueryParam("error"); e != "" {
		return store.Errorf(store.EFORBIDDEN, "GitHub did not sign you in (%s).", e)
	}
	ctx := c.Request().Context()
	tok, err := s.oauthConfig().Exchange(ctx, c.QueryParam("code"))
	if err != nil {
		return store.Errorf(store.EUNAUTHORIZED, "GitHub refused the sign-in code; start again.")
	}
	client := s.githubClient(ctx, tok.AccessToken)
	gu, _, err := client.Users.Get(ctx, "")
	if err != nil {
		return store.Errorf(store.EUNAUTHORIZED, "GitHub did not say who you are: %s", githubErr(err))
	}
	if !s.allowedToSignIn(c, client, gu.GetLogin()) {
		return store.Errorf(store.EFORBIDDEN, "The GitHub account %s may not sign in to this berth.", gu.GetLogin())
	}
	becomesAdmin, err := s.setupBySignIn(c)
	if err != nil {
		return err
	}
	u, err := s.deps.DB.UpsertGitHubUser(ctx, gu.GetID(), gu.GetLogin(), gu.GetName())
	if err != nil {
		return err
	}
	if u.DisabledAt != nil {
		return store.Errorf(store.EFORBIDDEN, "This account is disabled.")
	}
	if becomesAdmin {
		if err := s.deps.DB.MakeAdmin(ctx, u.ID); err != nil {
			return err
		}
		u.IsAdmin = true
		s.deps.Log.Info("berth has its administrator; the setup link is used up", slog.String("github_login", u.GitHubLogin))
	}
	if err := s.deps.DB.SetGitHubToken(ctx, u.ID, s.deps.Secrets.Seal([]byte(tok.AccessToken), model.GitHubTokenAAD(u.ID))); err != nil {
		return err
	}
	if _, err := s.StartSession(c, u); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, "/")
}

// setupBySignIn decides, for a berth without an administrator, whether
// this GitHub sign-in is the one its setup link started (it then makes
// the administrator); any other is refused until there is one, so the
// first stranger to sign in does not take the instance.
func (s *Handler) setupBySignIn(c echo.Context) (bool, error) {
	if s.cfg.AdminToken != "" {
		return false, nil
	}
	has, err := s.deps.DB.HasAdmin(c.Request().Context())
	if err != nil || has {
		return false, err
	}
	grant := s.readCookie(c, setupGrantCookie)
	s.setCookie(c, setupGrantCookie, "", -1, time.Time{}, http.SameSiteLaxMode)
	if !s.setup.takeGrant(grant, time.Now()) {
		return false, store.Errorf(store.EFORBIDDEN, "This berth has no administrator yet: open the setup link from berth's log to become it.")
	}
	return true, nil
}

// allowedToSignIn applies BERTH_ALLOWED_GITHUB_USERS / _ORGS; with neither
// set, anyone with a GitHub account may sign in.
func (s *Handler) allowedToSignIn(c echo.Context, client *github.Client, login string) bool {
	users, orgs := s.cfg.GitHub.AllowedUsers, s.cfg.GitHub.AllowedOrgs
	if len(users) == 0 && len(orgs) == 0 {
		return true
	}
	if allowedLogin(users, login) {
		return true
	}
	if len(orgs) == 0 {
		return false
	}
	ok, err := s.memberOfAllowedOrg(c.Request().Context(), client)
	return err == nil && ok
}
