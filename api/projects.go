package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// projectJSON is a project as the API shows it.
type projectJSON struct {
	*store.Project
	URL string `json:"url"` // the production host
}

func (s *Handler) projectOut(p *store.Project) projectJSON {
	return projectJSON{Project: p, URL: s.previewURL(p.Slug)}
}

type createProjectRequest struct {
	Name             string `json:"name"`
	GitURL           string `json:"git_url"`
	GitHubRepo       string `json:"github_repo"`
	ProductionBranch string `json:"production_branch"`
	RootDir          string `json:"root_dir"`
	InstallCommand   string `json:"install_command"`
	BuildCommand     string `json:"build_command"`
	OutputDir        string `json:"output_dir"`
	AllowForkPRs     bool   `json:"allow_fork_prs"`
}

func (s *Handler) handleCreateProject(c echo.Context) error {
	var req createProjectRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := s.checkGitURL(currentUser(c), req.GitURL); err != nil {
		return err
	}
	p := &store.Project{
		OwnerID: currentUser(c).ID, Name: req.Name, GitURL: req.GitURL, GitHubRepo: req.GitHubRepo,
		ProductionBranch: req.ProductionBranch, RootDir: req.RootDir, InstallCommand: req.InstallCommand,
		BuildCommand: req.BuildCommand, OutputDir: req.OutputDir, AllowForkPRs: req.AllowForkPRs,
	}
	if p.ProductionBranch == "" && p.GitHubRepo != "" {
		// Linking a repository makes its default branch production.
		p.ProductionBranch = s.defaultBranch(c.Request().Context(), p.OwnerID, p.GitHubRepo)
	}
	if err := s.deps.DB.CreateProject(c.Request().Context(), p); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.projectOut(p))
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
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if patch.GitURL != nil && *patch.GitURL != p.GitURL {
		if err := s.checkGitURL(u, *patch.GitURL); err != nil {
			return err
		}
	}
	if p, err = s.deps.DB.UpdateProject(ctx, u.ID, p.ID, patch); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
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
