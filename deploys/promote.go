package deploys

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// DefaultHealthTimeout is how long a promotion waits, by default, for a
// deployment to be ready to serve.
const DefaultHealthTimeout = 60 * time.Second

// Gate readies d to take production traffic, or says why it cannot: for a
// server deployment, its server started and answering healthPath below 500;
// for a static one, its manifest loaded. A *store.Error passes through to
// the caller as it is (the artifacts are gone: a conflict); any other error
// is a failed health check.
type Gate func(ctx context.Context, d *store.Deployment, healthPath string) error

// SetGate sets the check a deployment passes before it is promoted. Without
// one, promotion only moves the production pointer.
func (l *Lifecycle) SetGate(g Gate) { l.gate.Store(&g) }

// Promotion says who or what promotes a deployment, and why.
type Promotion struct {
	By     string // a user id, store.PromotedByAuto or store.PromotedByRollback
	Reason string
}

// Promote makes ready deployment d its project's production deployment. The
// gate runs first, while the current production deployment keeps serving:
// if it fails, production stays where it was and the error says why. Once
// Promote returns, observers have heard of the move (serving forgets its
// host lookups on that), so every request that starts afterwards is served
// by d; requests in flight to the old deployment finish on it, and its
// server stops when idle like any other.
func (l *Lifecycle) Promote(ctx context.Context, d *store.Deployment, pr Promotion) error {
	if d.State != model.StateReady {
		return store.Errorf(store.ECONFLICT, "Only a ready deployment can be promoted to production; this one is %s.", d.State)
	}
	if d.ExpiredAt != nil {
		return store.Errorf(store.ECONFLICT, "This deployment was removed by retention: its files are deleted. Redeploy its commit to serve it again.")
	}
	p, err := l.project(ctx, d.ProjectID)
	if err != nil {
		return err
	}
	if p.ProductionDeploymentID == d.ID {
		return nil
	}
	if err := l.check(ctx, p, d); err != nil {
		l.note(ctx, d.ID, "Not promoted to production: "+store.ErrorMessage(err))
		return err
	}
	l.promoteMu.Lock()
	defer l.promoteMu.Unlock()
	moved, err := l.db.SetProductionDeployment(ctx, p.ID, d.ID, pr.By, pr.Reason)
	if err != nil || !moved {
		return err
	}
	l.tell(ctx, Change{Kind: Promoted, ProjectID: p.ID, DeploymentIDs: []string{d.ID}})
	l.note(ctx, d.ID, "Promoted to production ("+promotedBy(pr)+").")
	return nil
}

// check runs the gate within the health timeout and records a failure on
// the deployment.
func (l *Lifecycle) check(ctx context.Context, p *store.Project, d *store.Deployment) error {
	g := l.gate.Load()
	if g == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.HealthTimeout)
	defer cancel()
	start := time.Now()
	err := (*g)(ctx, d, p.HealthPath)
	if err == nil {
		return nil
	}
	if _, ok := err.(*store.Error); !ok {
		err = store.Errorf(store.ECONFLICT, "The deployment failed its health check (GET %s within %s), so production stays where it was: %v",
			p.HealthPath, l.cfg.HealthTimeout, err)
	}
	l.log.Warn("promotion refused", slog.String("deployment", d.ID), slog.Duration("after", time.Since(start)), slog.Any("error", err))
	if err := l.db.SetPromotionError(context.WithoutCancel(ctx), d.ID, store.ErrorMessage(err)); err != nil {
		l.log.Warn("record promotion error", slog.String("deployment", d.ID), slog.Any("error", err))
	}
	return err
}

func promotedBy(pr Promotion) string {
	switch pr.By {
	case store.PromotedByAuto:
		return "a push to the production branch"
	case store.PromotedByRollback:
		return "rollback"
	}
	return "by hand"
}

// Rollback promotes an earlier deployment of ownerID's project: deploymentID,
// or when it is "", the one that was production most recently before the
// current one. No build runs; the deployment serves with its own runtime
// environment, as when it was built.
func (l *Lifecycle) Rollback(ctx context.Context, ownerID, projectID, deploymentID, reason string) (*store.Deployment, error) {
	if _, err := l.db.Project(ctx, ownerID, projectID); err != nil {
		return nil, err
	}
	if deploymentID == "" {
		id, err := l.db.PreviousProduction(ctx, ownerID, projectID)
		if err != nil {
			return nil, err
		}
		deploymentID = id
	}
	d, err := l.db.Deployment(ctx, ownerID, deploymentID)
	if err != nil {
		return nil, err
	}
	if d.ProjectID != projectID {
		return nil, store.Errorf(store.ENOTFOUND, "Deployment not found.")
	}
	return d, l.Promote(ctx, d, Promotion{By: store.PromotedByRollback, Reason: reason})
}

// autoPromote promotes a ready build of the production branch pushed or
// created by the API. A failed gate leaves production where it was: the
// deployment stays ready, and its log and promotion_error say why.
func (l *Lifecycle) autoPromote(ctx context.Context, d *store.Deployment) {
	if d.Trigger == model.TriggerRedeploy || d.Trigger == model.TriggerPullRequest || d.Branch == "" {
		return
	}
	p, err := l.project(ctx, d.ProjectID)
	if err != nil || d.Branch != p.ProductionBranch {
		return
	}
	if err := l.Promote(ctx, d, Promotion{By: store.PromotedByAuto, Reason: "Ready build of " + p.ProductionBranch + "."}); err != nil {
		l.log.Warn("promote to production", slog.String("deployment", d.ID), slog.Any("error", err))
	}
}

// project returns a project whoever owns it, for the lifecycle's own use.
func (l *Lifecycle) project(ctx context.Context, projectID string) (*store.Project, error) {
	owner, err := l.db.ProjectOwner(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return l.db.Project(ctx, owner, projectID)
}

// note appends a line to deployment id's log and tells its live viewers.
func (l *Lifecycle) note(ctx context.Context, id, text string) {
	line, err := l.db.AppendLogLine(context.WithoutCancel(ctx), id, "system", text)
	if err != nil {
		l.log.Warn("append log line", slog.String("deployment", id), slog.Any("error", fmt.Errorf("note: %w", err)))
		return
	}
	l.broker.publish(id, Update{Lines: []store.LogLine{line}})
}
