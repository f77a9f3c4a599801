package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
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
	d := &store.Deployment{ProjectID: p.ID, Ref: req.Ref, GitURL: req.GitURL, Trigger: model.TriggerAPI}
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
		d.GitURL, _ = s.cloneURL(p)
	}
	if d.GitURL == "" {
		return nil, store.Errorf(store.EINVALID, "The project has no git_url or github_repo to build from.")
	}
	if err := s.deps.DB.CreateDeployment(ctx, d); err != nil {
		return nil, err
	}
	if err := s.enqueue(ctx, ownerID, p, d); err != nil {
		s.deps.Log.Error("queue build", slog.String("deployment", d.ID), slog.Any("err", err))
		s.deps.DB.ApplyTransition(context.WithoutCancel(ctx), d.ID, store.Transition{
			To: model.StateError, At: time.Now(), Error: "The build could not be queued; try again."})
		return nil, err
	}
	if d.CommitSHA != "" {
		s.github.notify(d.ID, model.StateQueued)
	}
	return d, nil
}

func (s *Server) enqueue(ctx context.Context, ownerID string, p *store.Project, d *store.Deployment) error {
	env, err := s.sealedBuildEnv(ctx, ownerID, p.ID, d.ID)
	if err != nil {
		return err
	}
	job := queue.BuildJob{
		DeploymentID: d.ID, ProjectID: p.ID, GitURL: d.GitURL, Ref: d.Ref, CommitSHA: d.CommitSHA,
		RootDir: p.RootDir, InstallCommand: p.InstallCommand, BuildCommand: p.BuildCommand, OutputDir: p.OutputDir,
		Env: env, QueuedAt: d.CreatedAt,
	}
	// The token goes only to GitHub's own clone URL, sealed; the worker
	// uses it on the host and never hands it to the container.
	if strings.HasPrefix(d.GitURL, s.cfg.GitHub.webURL()+"/") {
		if token := s.repoToken(ctx, ownerID); token != "" {
			job.GitToken = s.deps.Secrets.Seal([]byte(token), model.GitTokenAAD(d.ID))
		}
	}
	return queue.PublishJob(ctx, s.deps.JS, job)
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
	if err := s.cancelDeployment(ctx, d); err != nil {
		return err
	}
	if d, err = s.deps.DB.Deployment(ctx, u.ID, d.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deploymentOut(d))
}

// cancelDeployment marks d cancelled, tells the worker holding its job to
// stop, ends live log streams and tells GitHub.
func (s *Server) cancelDeployment(ctx context.Context, d *store.Deployment) error {
	if model.Terminal(d.State) {
		return store.Errorf(store.ECONFLICT, "The deployment already finished (%s).", d.State)
	}
	ok, err := s.deps.DB.ApplyTransition(ctx, d.ID, store.Transition{To: model.StateCancelled, At: time.Now(), Error: "Cancelled."})
	if err != nil {
		return err
	}
	if !ok {
		return store.Errorf(store.ECONFLICT, "The deployment finished before it could be cancelled.")
	}
	s.publishCancel(d.ID)
	s.broker.publish(d.ID, update{state: model.StateCancelled, err: "Cancelled."})
	s.github.notify(d.ID, model.StateCancelled)
	return nil
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
	d, err := s.redeploy(ctx, u.ID, old)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.deploymentOut(d))
}

// redeploy builds old's commit again as a new deployment of ownerID's project.
func (s *Server) redeploy(ctx context.Context, ownerID string, old *store.Deployment) (*store.Deployment, error) {
	p, err := s.deps.DB.Project(ctx, ownerID, old.ProjectID)
	if err != nil {
		return nil, err
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: old.Ref, Branch: old.Branch, CommitSHA: old.CommitSHA,
		CommitMessage: old.CommitMessage, GitURL: old.GitURL, Trigger: model.TriggerRedeploy}
	return s.deploy(ctx, ownerID, p, d)
}

// handlePromote makes a ready deployment the project's production deployment.
func (s *Server) handlePromote(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.promote(ctx, d.ProjectID, d.ID); err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, u.ID, d.ProjectID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
}

// onApplied follows up a stored state change: GitHub hears of it, and a
// ready deployment of the production branch is promoted.
func (s *Server) onApplied(ctx context.Context, t store.DeploymentTransition) {
	if model.Terminal(t.To) {
		s.github.notify(t.DeploymentID, t.To)
	}
	if t.To != model.StateReady && !(t.To == model.StateBuilding && t.CommitSHA != "") {
		return
	}
	d, err := s.deps.DB.DeploymentByID(ctx, t.DeploymentID)
	if err != nil {
		return
	}
	if t.To == model.StateBuilding {
		// Webhook and redeploy deployments said "pending" when queued;
		// one asked for by branch learns its commit only now.
		if d.Trigger == model.TriggerAPI || d.Trigger == model.TriggerDashboard {
			s.github.notify(d.ID, t.To)
		}
		return
	}
	if d.Trigger == model.TriggerRedeploy || d.Trigger == model.TriggerPullRequest {
		return
	}
	p, err := s.deps.DB.Project(ctx, s.ownerOf(ctx, d), d.ProjectID)
	if err != nil || d.Branch == "" || d.Branch != p.ProductionBranch {
		return
	}
	if err := s.promote(ctx, p.ID, d.ID); err != nil {
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

// promote points the project's production host at a ready deployment and
// tells the host router at once.
func (s *Server) promote(ctx context.Context, projectID, deploymentID string) error {
	if err := s.deps.DB.SetProductionDeployment(ctx, projectID, deploymentID); err != nil {
		return err
	}
	if s.deps.OnPromote != nil {
		s.deps.OnPromote()
	}
	return nil
}
