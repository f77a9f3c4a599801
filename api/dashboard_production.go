package api

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// historyRow is one span of the production history as the project page
// shows it.
type historyRow struct {
	*store.ProductionEntry
	Deployment  *store.Deployment // nil when it was deleted
	Current     bool              // the deployment production serves now
	CanRollBack bool              // an earlier, still ready deployment
}

// productionHistory lists the project's production spans, with their
// deployments (deps holds the recent ones; older ones are looked up).
func (d *dashboard) productionHistory(ctx context.Context, owner string, p *store.Project, deps []*store.Deployment) ([]historyRow, error) {
	entries, err := d.s.deps.DB.ProductionHistory(ctx, owner, p.ID, 20)
	if err != nil {
		return nil, err
	}
	byID := map[string]*store.Deployment{}
	for _, dep := range deps {
		byID[dep.ID] = dep
	}
	rows := make([]historyRow, len(entries))
	for i, e := range entries {
		dep, ok := byID[e.DeploymentID]
		if !ok {
			if dep, err = d.s.deps.DB.Deployment(ctx, owner, e.DeploymentID); err != nil {
				dep = nil
			}
			byID[e.DeploymentID] = dep
		}
		current := e.DeploymentID == p.ProductionDeploymentID
		rows[i] = historyRow{ProductionEntry: e, Deployment: dep, Current: current,
			CanRollBack: !current && dep != nil && dep.State == model.StateReady && dep.ExpiredAt == nil}
	}
	return rows, nil
}

// handleRollback promotes an earlier deployment from the production
// history.
func (d *dashboard) handleRollback(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if _, err := d.s.deps.Deploys.Rollback(ctx, u.ID, p.ID, c.FormValue("deployment_id"), "Rolled back by "+u.Login+"."); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderProject(c, status, p, projectFormOf(p), envForm{Target: model.TargetAll}, msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=rolled-back#production-history")
}
