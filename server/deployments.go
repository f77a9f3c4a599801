package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// deploymentJSON is a deployment as the API shows it.
type deploymentJSON struct {
	*store.Deployment
	URL string `json:"url"`
}

func (s *Server) deploymentOut(d *store.Deployment) deploymentJSON {
	return deploymentJSON{Deployment: d, URL: s.previewURL(d.PreviewHost)}
}

type createDeploymentRequest struct {
	Ref    string `json:"ref"`
	GitURL string `json:"git_url"`
}

func (s *Server) handleCreateDeployment(c echo.Context) error {
	var req createDeploymentRequest
	if c.Request().ContentLength != 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if req.GitURL != "" {
		if err := store.ValidateGitURL(req.GitURL); err != nil {
			return err
		}
	}
	if req.Ref != "" && !store.ValidBranch(req.Ref) {
		return store.Errorf(store.EINVALID, "%q is not a valid branch, tag or commit.", req.Ref)
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: req.Ref, GitURL: req.GitURL, Trigger: "api"}
	d, err = s.deploy(ctx, u.ID, p, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.deploymentOut(d))
}

// deploy inserts d as queued and publishes its build job. If the job cannot
// be queued the deployment fails at once with the reason: nothing is left
// queued with no job behind it.
func (s *Server) deploy(ctx context.Context, ownerID string, p *store.Project, d *store.Deployment) (*store.Deployment, error) {
	if d.Ref == "" && d.CommitSHA == "" {
		d.Ref = p.ProductionBranch
	}
	if d.Branch == "" && !isSHA(d.Ref) {
		d.Branch = d.Ref
	}
	if d.GitURL == "" {
		d.GitURL = p.GitURL
	}
	if d.GitURL == "" {
		return nil, store.Errorf(store.EINVALID, "The project has no git_url to build from.")
	}
	if err := s.deps.DB.CreateDeployment(ctx, d); err != nil {
		return nil, err
	}
	if err := s.enqueue(ctx, ownerID, p, d); err != nil {
		s.deps.Log.Error("queue build", slog.String("deployment", d.ID), slog.Any("err", err))
		s.deps.DB.ApplyTransition(context.WithoutCancel(ctx), d.ID, store.Transition{
			To: store.StateError, At: time.Now(), Error: "The build could not be queued; try again."})
		return nil, err
	}
	return d, nil
}

func (s *Server) enqueue(ctx context.Context, ownerID string, p *store.Project, d *store.Deployment) error {
	env, err := s.sealedBuildEnv(ctx, ownerID, p.ID, d.ID)
	if err != nil {
		return err
	}
	return queue.PublishJob(ctx, s.deps.JS, queue.BuildJob{
		DeploymentID: d.ID, ProjectID: p.ID, GitURL: d.GitURL, Ref: d.Ref, CommitSHA: d.CommitSHA,
		RootDir: p.RootDir, InstallCommand: p.InstallCommand, BuildCommand: p.BuildCommand, OutputDir: p.OutputDir,
		Env: env, QueuedAt: d.CreatedAt,
	})
}

func (s *Server) handleListDeployments(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	list, err := s.deps.DB.Deployments(ctx, u.ID, p.ID, limit)
	if err != nil {
		return err
	}
	out := make([]deploymentJSON, len(list))
	for i, d := range list {
		out[i] = s.deploymentOut(d)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleGetDeployment(c echo.Context) error {
	d, err := s.deps.DB.Deployment(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deploymentOut(d))
}

// handleCancel marks the deployment cancelled and tells whichever worker
// holds its job to stop.
func (s *Server) handleCancel(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if store.Terminal(d.State) {
		return store.Errorf(store.ECONFLICT, "The deployment already finished (%s).", d.State)
	}
	ok, err := s.deps.DB.ApplyTransition(ctx, d.ID, store.Transition{To: store.StateCancelled, At: time.Now(), Error: "Cancelled."})
	if err != nil {
		return err
	}
	if !ok {
		return store.Errorf(store.ECONFLICT, "The deployment finished before it could be cancelled.")
	}
	s.publishCancel(d.ID)
	s.broker.publish(d.ID, update{state: store.StateCancelled, err: "Cancelled."})
	if d, err = s.deps.DB.Deployment(ctx, u.ID, d.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deploymentOut(d))
}

func (s *Server) publishCancel(deploymentID string) {
	if err := s.deps.NC.Publish(queue.SubjectCancel+deploymentID, nil); err != nil {
		s.deps.Log.Warn("publish cancel", slog.String("deployment", deploymentID), slog.Any("err", err))
	}
}

// handleRedeploy builds the same commit again as a new deployment.
func (s *Server) handleRedeploy(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	old, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, u.ID, old.ProjectID)
	if err != nil {
		return err
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: old.Ref, Branch: old.Branch, CommitSHA: old.CommitSHA,
		CommitMessage: old.CommitMessage, GitURL: old.GitURL, Trigger: "redeploy"}
	if d, err = s.deploy(ctx, u.ID, p, d); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.deploymentOut(d))
}

// handlePromote makes a ready deployment the project's production deployment.
func (s *Server) handlePromote(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.deps.DB.SetProductionDeployment(ctx, d.ProjectID, d.ID); err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, u.ID, d.ProjectID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
}

// onReady promotes a ready deployment of the production branch, as a push to
// production would on any hosted platform.
func (s *Server) onReady(ctx context.Context, d *store.Deployment) {
	if d.Trigger == "redeploy" {
		return
	}
	p, err := s.deps.DB.Project(ctx, s.ownerOf(ctx, d), d.ProjectID)
	if err != nil || d.Branch == "" || d.Branch != p.ProductionBranch {
		return
	}
	if err := s.deps.DB.SetProductionDeployment(ctx, p.ID, d.ID); err != nil {
		s.deps.Log.Warn("promote to production", slog.String("deployment", d.ID), slog.Any("err", err))
	}
}

func (s *Server) ownerOf(ctx context.Context, d *store.Deployment) string {
	owner, err := s.deps.DB.ProjectOwner(ctx, d.ProjectID)
	if err != nil {
		return ""
	}
	return owner
}

func isSHA(ref string) bool {
	if len(ref) != 40 {
		return false
	}
	for _, r := range ref {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
