package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// deploymentPage is what the deployment page shows. The log itself arrives
// in the browser from the API's SSE stream.
type deploymentPage struct {
	Project    *store.Project
	Deployment deploymentRow
	Terminal   bool
}

func (d *dashboard) handleDeployment(c echo.Context) error {
	dep, err := d.s.deps.DB.Deployment(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	return d.renderDeployment(c, http.StatusOK, dep, "")
}

func (d *dashboard) renderDeployment(c echo.Context, status int, dep *store.Deployment, errMsg string) error {
	p, err := d.s.deps.DB.Project(c.Request().Context(), currentUser(c).ID, dep.ProjectID)
	if err != nil {
		return d.fail(c, err)
	}
	title := p.Name + " · " + dep.ID[:8]
	return d.render(c, status, "deployment", pageView{Title: title, Nav: "projects", Error: errMsg, Page: deploymentPage{
		Project: p, Deployment: d.deploymentRow(dep, p.ProductionDeploymentID, time.Now()), Terminal: model.Terminal(dep.State),
	}})
}

// handleLogText returns the whole build log as text, for reading without
// JavaScript or saving.
func (d *dashboard) handleLogText(c echo.Context) error {
	dep, err := d.s.deps.DB.Deployment(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return d.s.plainLog(c, dep.ID)
}

// handleRedeploy builds the same commit again and shows the new deployment.
func (d *dashboard) handleRedeploy(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	old, err := d.s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	dep, err := d.s.deps.Deploys.Redeploy(ctx, u.ID, old, false) // the dashboard's Redeploy builds from scratch
	if err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderDeployment(c, status, old, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/deployments/"+dep.ID)
}

func (d *dashboard) handleCancel(c echo.Context) error {
	ctx := c.Request().Context()
	dep, err := d.s.deps.DB.Deployment(ctx, currentUser(c).ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if err := d.s.deps.Deploys.Cancel(ctx, dep); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderDeployment(c, status, dep, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/deployments/"+dep.ID+"?done=cancelled")
}

func (d *dashboard) handlePromote(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	dep, err := d.s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if err := d.s.deps.Deploys.Promote(ctx, dep, deploys.Promotion{By: u.ID, Reason: "Promoted by " + u.Login + "."}); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderDeployment(c, status, dep, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/deployments/"+dep.ID+"?done=promoted")
}
