package api

import (
	"context"
	"net/http"
	"net/url"
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

// defaultBranch asks GitHub for a repository's default branch ("" when it
// cannot).
func (s *Handler) defaultBranch(ctx context.Context, userID, fullName string) string {
	token := s.deps.Deploys.RepoToken(ctx, userID)
	owner, name, ok := strings.Cut(fullName, "/")
	if token == "" || !ok {
		return ""
	}
	r, _, err := s.githubClient(ctx, token).Repositories.Get(ctx, owner, name)
	if err != nil {
		return ""
	}
	return r.GetDefaultBranch()
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
