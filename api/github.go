package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v84/github"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/berth-dev/berth/store"
)

// GitHubConfig configures sign-in, webhooks and the REST API. The URLs are
// configurable for GitHub Enterprise (and for tests).
type GitHubConfig struct {
	ClientID      string
	ClientSecret  string
	WebhookSecret string
	APIURL        string // REST API base, default https://api.github.com/
	WebURL        string // OAuth pages and clone URLs, default https://github.com
	Token         string // used for repository calls when a project's owner has no token of their own
	AllowedUsers  []string
	AllowedOrgs   []string
	// OrgCheckTTL is how long GitHub's answer about a user's membership of
	// the allowed organisations is trusted (default five minutes).
	OrgCheckTTL time.Duration
}

func (g GitHubConfig) apiURL() string {
	if g.APIURL == "" {
		return "https://api.github.com/"
	}
	return strings.TrimSuffix(g.APIURL, "/") + "/"
}

func (g GitHubConfig) webURL() string {
	if g.WebURL == "" {
		return "https://github.com"
	}
	return strings.TrimSuffix(g.WebURL, "/")
}

// githubClient is a REST client authenticated with token.
func (s *Handler) githubClient(ctx context.Context, token string) *github.Client {
	hc := oauth2.NewClient(context.WithoutCancel(ctx), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
	c := github.NewClient(hc)
	if u, err := url.Parse(s.cfg.GitHub.apiURL()); err == nil {
		c.BaseURL = u
	}
	return c
}

// handleListRepos lists the signed-in user's repositories for linking.
func (s *Handler) handleListRepos(c echo.Context) error {
	ctx := c.Request().Context()
	token := s.deps.Deploys.RepoToken(ctx, currentUser(c).ID)
	if token == "" {
		return store.Errorf(store.EINVALID, "Sign in with GitHub (or set BERTH_GITHUB_TOKEN) to list repositories.")
	}
	repos, _, err := s.githubClient(ctx, token).Repositories.ListByAuthenticatedUser(ctx, &github.RepositoryListByAuthenticatedUserOptions{
		Sort: "updated", ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return store.Errorf(store.EINVALID, "GitHub did not list your repositories: %s", githubErr(err))
	}
	type repo struct {
		FullName      string `json:"full_name"`
		Private       bool   `json:"private"`
		DefaultBranch string `json:"default_branch"`
		HTMLURL       string `json:"html_url"`
	}
	out := make([]repo, 0, len(repos))
	for _, r := range repos {
		out = append(out, repo{r.GetFullName(), r.GetPrivate(), r.GetDefaultBranch(), r.GetHTMLURL()})
	}
	return c.JSON(http.StatusOK, out)
}

// repoLink is what GitHub says of a repository a user may link.
type repoLink struct {
	FullName      string // as GitHub spells it
	ID            int64
	DefaultBranch string
}

// checkRepoAccess asks GitHub whether u can see the repository fullName and
// returns its id. It asks with u's own token only: the instance's token
// sees what the instance sees, and with it anyone could link (and so
// receive the commits of) any repository it reaches. An admin may fall back
// to the instance's token.
func (s *Handler) checkRepoAccess(ctx context.Context, u *store.User, fullName string) (*repoLink, error) {
	if !store.ValidGitHubRepo(fullName) {
		return nil, store.Errorf(store.EINVALID, "github_repo must look like owner/name.")
	}
	owner, name, _ := strings.Cut(fullName, "/")
	var tokens []string
	if own := s.deps.Deploys.UserGitHubToken(ctx, u.ID); own != "" {
		tokens = append(tokens, own)
	}
	if inst := s.deps.Deploys.InstanceGitHubToken(); u.IsAdmin && inst != "" && !slices.Contains(tokens, inst) {
		tokens = append(tokens, inst)
	}
	if len(tokens) == 0 {
		return nil, store.Errorf(store.EINVALID, "Sign in with GitHub to link %s: berth checks that your GitHub account can see it.", fullName)
	}
	var lastErr error
	for _, token := range tokens {
		r, _, err := s.githubClient(ctx, token).Repositories.Get(ctx, owner, name)
		if err != nil {
			lastErr = err
			continue
		}
		if perm := r.GetPermissions(); perm != nil && !perm.GetPull() && !perm.GetPush() && !perm.GetAdmin() {
			continue
		}
		if r.GetID() == 0 {
			lastErr = errors.New("no repository id")
			continue
		}
		link := &repoLink{FullName: r.GetFullName(), ID: r.GetID(), DefaultBranch: r.GetDefaultBranch()}
		if !store.ValidGitHubRepo(link.FullName) {
			link.FullName = fullName
		}
		return link, nil
	}
	var ge *github.ErrorResponse
	if lastErr == nil || errors.As(lastErr, &ge) && ge.Response != nil && ge.Response.StatusCode/100 == 4 {
		// GitHub answers 404 for a private repository the token cannot see.
		return nil, store.Errorf(store.EFORBIDDEN, "Your GitHub account cannot see %s.", fullName)
	}
	return nil, store.Errorf(store.EINVALID, "GitHub did not say whether you can see %s (%s); try again.", fullName, githubErr(lastErr))
}

// githubErr is a short, token-free description of a GitHub API error.
func githubErr(err error) string {
	var ge *github.ErrorResponse
	if e, ok := err.(*github.ErrorResponse); ok {
		ge = e
	}
	if ge != nil && ge.Response != nil {
		return ge.Response.Status + ": " + ge.Message
	}
	return "the API could not be reached"
}
