package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// deploymentJSON is a deployment as the API shows it.
type deploymentJSON struct {
	*store.Deployment
	URL string `json:"url"`
}

func (s *Handler) deploymentOut(d *store.Deployment) deploymentJSON {
	return deploymentJSON{Deployment: d, URL: s.previewURL(d.PreviewHost)}
}

type createDeploymentRequest struct {
	Ref    string `json:"ref"`
	GitURL string `json:"git_url"`
}

func (s *Handler) handleCreateDeployment(c echo.Context) error {
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
	if err := s.checkGitURL(u, req.GitURL); err != nil {
		return err
	}
	if req.Ref != "" && !store.ValidBranch(req.Ref) {
		return store.Errorf(store.EINVALID, "%q is not a valid branch, tag or commit.", req.Ref)
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: req.Ref, GitURL: req.GitURL, Trigger: model.TriggerAPI}
	d, err = s.deps.Deploys.Deploy(ctx, u.ID, p, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.deploymentOut(d))
}

func (s *Handler) handleListDeployments(c echo.Context) error {
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

func (s *Handler) handleGetDeployment(c echo.Context) error {
	d, err := s.deps.DB.Deployment(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deploymentOut(d))
}

// handleCancel marks the deployment cancelled and tells whichever worker
// holds its job to stop.
func (s *Handler) handleCancel(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.deps.Deploys.Cancel(ctx, d); err != nil {
		return err
	}
	if d, err = s.deps.DB.Deployment(ctx, u.ID, d.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.deploymentOut(d))
}

// redeployRequest is the optional body of a redeploy. Reuse lets the new
// deployment serve an earlier build made from the same inputs instead of
// building; by default a redeploy builds from scratch, which is how users
// pick up new build-time data.
type redeployRequest struct {
	Reuse bool `json:"reuse"`
}

// handleRedeploy builds the same commit again as a new deployment.
func (s *Handler) handleRedeploy(c echo.Context) error {
	var req redeployRequest
	if c.Request().ContentLength != 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	old, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	d, err := s.deps.Deploys.Redeploy(ctx, u.ID, old, req.Reuse)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.deploymentOut(d))
}
