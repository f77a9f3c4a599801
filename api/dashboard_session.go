package api

import (
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

type signInPage struct {
	Next        string
	TokenSignIn bool // an admin token is configured, or API keys sign in
	KeySignIn   bool // no admin token: the form takes API keys
	GitHub      bool // a GitHub OAuth app is configured
	// SetupHint tells a visitor on this machine (a loopback connection)
	// where the setup link is, while berth has no administrator.
	SetupHint bool
}

func (d *dashboard) handleSignInPage(c echo.Context) error {
	next := localRedirectPath(c.QueryParam("next"))
	if d.signedIn(c) {
		return seeOther(c, next)
	}
	return d.renderSignIn(c, http.StatusOK, next, "")
}

func (d *dashboard) renderSignIn(c echo.Context, status int, next, errMsg string) error {
	token := ""
	if v := d.s.readCookie(c, signInCookie); len(v) == 32 {
		token = v
	} else {
		token = store.NewID(16)
	}
	d.s.setCookie(c, signInCookie, token, 3600, time.Time{}, http.SameSiteStrictMode)
	if errMsg == "" {
		errMsg = signInErrors[c.QueryParam("error")]
	}
	notice := ""
	if c.QueryParam("done") == "signed-out" {
		notice = "You are signed out."
	}
	return d.render(c, status, "signin", pageView{
		Title: "Sign in", CSRF: token, Error: errMsg, Notice: notice,
		Page: signInPage{Next: next, TokenSignIn: d.s.admin != nil || d.s.keySignIn, KeySignIn: d.s.admin == nil && d.s.keySignIn,
			GitHub: d.githubEnabled(), SetupHint: d.s.setup.pending(time.Now()) && loopback(c.Request())},
	})
}

// handleSignIn signs in with the admin token from the form.
func (d *dashboard) handleSignIn(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, dashboardBodyLimit)
	if err := d.s.sameOrigin(r); err != nil {
		return d.fail(c, err)
	}
	next := localRedirectPath(c.FormValue("next"))
	want := d.s.readCookie(c, signInCookie)
	if want == "" || !equalTokens(c.FormValue(csrfField), want) {
		return d.renderSignIn(c, http.StatusForbidden, next, "The sign-in form expired; enter the token again.")
	}
	token := strings.TrimSpace(c.FormValue("token"))
	if d.s.admin == nil && !d.s.keySignIn {
		return d.renderSignIn(c, http.StatusUnauthorized, next, "Signing in with a token is not enabled on this server.")
	}
	if token == "" {
		return d.renderSignIn(c, http.StatusBadRequest, next, "Enter the admin token.")
	}
	ticket, err := d.s.beginCredentialCheck(c)
	if err != nil {
		return d.renderSignIn(c, http.StatusTooManyRequests, next, store.ErrorMessage(err))
	}
	u, err := d.s.signInUser(c, token)
	ticket.done(failedCredential(err))
	if failedCredential(err) {
		return d.renderSignIn(c, http.StatusUnauthorized, next, "That token is not valid; check BERTH_ADMIN_TOKEN on the server, or the API key.")
	}
	if err != nil {
		return d.renderSignIn(c, statusOf[store.ErrorCode(err)], next, store.ErrorMessage(err))
	}
	if _, err := d.s.StartSession(c, u); err != nil {
		return d.fail(c, err)
	}
	d.s.setCookie(c, signInCookie, "", -1, time.Time{}, http.SameSiteStrictMode)
	return seeOther(c, next)
}

func (d *dashboard) handleSignOut(c echo.Context) error {
	if err := d.s.EndSession(c); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/sign-in?done=signed-out")
}

// signInUser is the user a sign-in token stands for: the admin token's,
// or an API key's.
func (s *Handler) signInUser(c echo.Context, token string) (*store.User, error) {
	if s.admin != nil && equalTokens(token, s.cfg.AdminToken) {
		return s.admin, nil
	}
	if !strings.HasPrefix(token, "berth_") {
		return nil, store.Errorf(store.EUNAUTHORIZED, "That token is not valid.")
	}
	return s.deps.DB.UserByAPIKey(c.Request().Context(), token)
}

// signedIn reports whether the browser holds a live session.
func (d *dashboard) signedIn(c echo.Context) bool {
	token := d.s.readCookie(c, sessionCookie)
	if token == "" {
		return false
	}
	_, _, err := d.s.deps.DB.SessionByToken(c.Request().Context(), token)
	return err == nil
}

// localRedirectPath keeps a post-sign-in destination on this site. Browsers
// drop tabs and newlines from a URL and read a backslash as "/", so
// "/<tab>/evil" and "/<backslash>evil" lead to another host just as "//evil"
// does; and a path may be decoded once more on its way. Only a path that,
// as given and decoded, starts with one "/" followed by neither "/" nor a
// backslash, with no control character, backslash or scheme, is kept;
// anything else is "/".
func localRedirectPath(next string) string {
	decoded, err := url.PathUnescape(next)
	if err != nil || !localPath(next) || !localPath(decoded) || strings.HasPrefix(decoded, "/sign-in") {
		return "/"
	}
	return next
}

func localPath(p string) bool {
	if len(p) < 1 || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' || !unicode.IsPrint(r) {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
