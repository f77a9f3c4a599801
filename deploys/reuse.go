package deploys

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// reuseCandidates lists the builds d may reuse instead of building: none
// for a fork's build (its author controls what it runs, so it may neither
// take another build nor leave one for others) and none for a build asked
// from scratch.
func (l *Lifecycle) reuseCandidates(ctx context.Context, d *store.Deployment) []queue.ReuseCandidate {
	if d.Fork || d.Rebuild {
		return nil
	}
	cs, err := l.db.ReuseCandidates(ctx, d.ProjectID)
	if err != nil {
		// Building is always right; reuse only saves time.
		l.log.Warn("list reusable builds", slog.String("deployment", d.ID), slog.Any("error", err))
		return nil
	}
	out := make([]queue.ReuseCandidate, len(cs))
	for i, c := range cs {
		out[i] = queue.ReuseCandidate{DeploymentID: c.DeploymentID, InputsKey: c.InputsKey, ArtifactKey: c.ArtifactKey}
	}
	return out
}

// refuseReuse fails a deployment whose worker reported a build the store
// would not let it reuse (the build expired meanwhile, or the report was
// not one the control plane offered); left alone it would stay "building"
// with no worker behind it. A deployment cancelled meanwhile stays so.
func (w *eventWriter) refuseReuse(ctx context.Context, t store.DeploymentTransition) (store.DeploymentTransition, bool) {
	w.log.Warn("refuse reuse", slog.String("deployment", t.DeploymentID), slog.String("reused_from", t.ReusedFrom))
	failed := store.DeploymentTransition{DeploymentID: t.DeploymentID, Transition: store.Transition{
		To: model.StateError, At: time.Now(),
		Error: "The build this deployment was to reuse can no longer be reused; redeploy to build it.",
	}}
	ok, err := w.db.ApplyTransition(ctx, t.DeploymentID, failed.Transition)
	if err != nil {
		w.log.Error("fail deployment after a refused reuse", slog.String("deployment", t.DeploymentID), slog.Any("error", err))
		return t, false
	}
	return failed, ok
}
