package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// projectJSON is a project as the API shows it.
type projectJSON struct {
	*store.Project
	URL              string       `json:"url"` // the production host
	WebhookSecretSet bool         `json:"webhook_secret_set"`
	Webhook          *webhookJSON `json:"webhook,omitempty"` // only in the answer that made the secret
}

// webhookJSON is a new webhook secret, shown once, and where GitHub sends
// deliveries.
type webhookJSON struct {
	Secret string `json:"secret"`
	URL    string `json:"url"`
}

func (s *Handler) projectOut(p *store.Project) projectJSON {
	return projectJSON{Project: p, URL: s.previewURL(p.Slug), WebhookSecretSet: len(p.WebhookSecret) > 0}
}

// withSecret is projectOut showing a new webhook secret (none when "").
func (s *Handler) withSecret(p *store.Project, secret string) projectJSON {
	out := s.projectOut(p)
	if secret != "" {
		out.Webhook = &webhookJSON{Secret: secret, URL: s.webhookURL()}
	}
	return out
}

// webhookURL is where GitHub sends deliveries.
func (s *Handler) webhookURL() string {
	return s.public.Scheme + "://" + s.public.Host + "/webhooks/github"
}

// linkNewProject checks that u can see the GitHub repository p names and
// records its id and spelling (and its default branch as production,
// unless one is set); it gives p its id and a webhook secret, returned to
// be shown once. A project without a GitHub repository is left as it is.
func (s *Handler) linkNewProject(ctx context.Context, u *store.User, p *store.Project) (secret string, err error) {
	if p.GitHubRepo == "" {
		return "", nil
	}
	link, err := s.checkRepoAccess(ctx, u, p.GitHubRepo)
	if err != nil {
		return "", err
	}
	p.GitHubRepo, p.GitHubRepoID = link.FullName, link.ID
	if p.ProductionBranch == "" {
		p.ProductionBranch = link.DefaultBranch
	}
	p.ID = store.NewID(16)
	secret, p.WebhookSecret = s.deps.Deploys.NewWebhookSecret(p.ID)
	return secret, nil
}

// updateProject applies patch to u's project id. Setting github_repo to
// another repository (or one linked before ids were recorded) checks that
// u can see it, as creating does; a linked project without a webhook
// secret gets one, returned to be shown once.
func (s *Handler) updateProject(ctx context.Context, u *store.User, id string, patch store.ProjectPatch) (*store.Project, string, error) {
	cur, err := s.deps.DB.Project(ctx, u.ID, id)
	if err != nil {
		return nil, "", err
	}
	if patch.GitURL != nil && *patch.GitURL != cur.GitURL {
		if err := s.checkGitURL(u, *patch.GitURL); err != nil {
			return nil, "", err
		}
	}
	if patch.GitHubRepo != nil && *patch.GitHubRepo != "" &&
		(!strings.EqualFold(*patch.GitHubRepo, cur.GitHubRepo) || cur.GitHubRepoID == 0) {
		link, err := s.checkRepoAccess(ctx, u, *patch.GitHubRepo)
		if err != nil {
			return nil, "", err
		}
		patch.GitHubRepo, patch.GitHubRepoID = &link.FullName, &link.ID
	}
	p, err := s.deps.DB.UpdateProject(ctx, u.ID, id, patch)
	if err != nil {
		return nil, "", err
	}
	if p.GitHubRepo == "" || len(p.WebhookSecret) > 0 {
		return p, "", nil
	}
	secret, err := s.deps.Deploys.RotateWebhookSecret(ctx, u.ID, p.ID)
	if err != nil {
		return nil, "", err
	}
	p, err = s.deps.DB.Project(ctx, u.ID, id)
	return p, secret, err
}

type createProjectRequest struct {
	Name             string   `json:"name"`
	GitURL           string   `json:"git_url"`
	GitHubRepo       string   `json:"github_repo"`
	ProductionBranch string   `json:"production_branch"`
	RootDir          string   `json:"root_dir"`
	InstallCommand   string   `json:"install_command"`
	BuildCommand     string   `json:"build_command"`
	OutputDir        string   `json:"output_dir"`
	StartCommand     string   `json:"start_command"`
	DockerfilePath   string   `json:"dockerfile_path"`
	Port             int      `json:"port"`
	AllowForkPRs     bool     `json:"allow_fork_prs"`
	HealthPath       string   `json:"health_path"`
	WorkerLabels     []string `json:"worker_labels"`
}

func (s *Handler) handleCreateProject(c echo.Context) error {
	var req createProjectRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	u := currentUser(c)
	if err := s.checkGitURL(u, req.GitURL); err != nil {
		return err
	}
	p := &store.Project{
		OwnerID: u.ID, Name: req.Name, GitURL: req.GitURL, GitHubRepo: strings.TrimSpace(req.GitHubRepo),
		ProductionBranch: req.ProductionBranch, RootDir: req.RootDir, InstallCommand: req.InstallCommand,
		BuildCommand: req.BuildCommand, OutputDir: req.OutputDir, StartCommand: req.StartCommand, DockerfilePath: req.DockerfilePath, Port: req.Port, AllowForkPRs: req.AllowForkPRs,
		HealthPath: req.HealthPath, WorkerLabels: req.WorkerLabels,
	}
	secret, err := s.linkNewProject(c.Request().Context(), u, p)
	if err != nil {
		return err
	}
	if err := s.deps.Deploys.AllowNewProject(c.Request().Context(), currentUser(c)); err != nil {
		return err
	}
	if err := s.deps.DB.CreateProject(c.Request().Context(), p); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.withSecret(p, secret))
}

func (s *Handler) handleListProjects(c echo.Context) error {
	list, err := s.deps.DB.Projects(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := make([]projectJSON, len(list))
	for i, p := range list {
		out[i] = s.projectOut(p)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Handler) handleGetProject(c echo.Context) error {
	p, err := s.deps.DB.Project(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
}

func (s *Handler) handleUpdateProject(c echo.Context) error {
	var patch store.ProjectPatch
	if err := bind(c, &patch); err != nil {
		return err
	}
	p, secret, err := s.updateProject(c.Request().Context(), currentUser(c), c.Param("id"), patch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.withSecret(p, secret))
}

// handleRotateWebhookSecret gives a linked project a new webhook secret and
// shows it, this once; the old one stops working at once.
func (s *Handler) handleRotateWebhookSecret(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if p.GitHubRepo == "" {
		return store.Errorf(store.EINVALID, "Link a GitHub repository (github_repo) first: the webhook secret signs its deliveries.")
	}
	secret, err := s.deps.Deploys.RotateWebhookSecret(ctx, u.ID, p.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookJSON{Secret: secret, URL: s.webhookURL()})
}

// checkGitURL checks a git_url u writes: https:// for everyone; paths,
// file:// and http:// URLs, which berth fetches on its own host, only for
// the administrator or when the operator allows them. Builds made later
// from the stored URL (webhooks, redeploys) rely on this check, and the
// builder checks again.
func (s *Handler) checkGitURL(u *store.User, raw string) error {
	if raw == "" {
		return nil
	}
	return store.ValidateGitURL(raw, u.IsAdmin || s.cfg.AllowLocalGit)
}

// handleDeleteProject cancels the project's running builds, deletes its rows
// and frees its deployments' artifacts and caches.
func (s *Handler) handleDeleteProject(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.deps.Deploys.DeleteProject(ctx, owner, p); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
