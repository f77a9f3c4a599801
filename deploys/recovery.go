package deploys

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// recover makes sure no deployment left unfinished by a crash stays so
// forever. It first lets the event consumer apply what workers published
// before the crash; then every unfinished deployment either still has its
// job in the queue (a worker will run or rerun it), waits for its owner's
// turn (dispatched after the check), is queued again (its job was lost
// before a worker took it), or is failed with the reason.
func (l *Lifecycle) recover(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := l.queue.EventsCaughtUp(ctx)
		if err != nil {
			l.log.Warn("check event backlog", slog.Any("error", err))
			break
		}
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := l.db.UnfinishedDeployments(ctx)
	if err != nil {
		return err
	}
	waiting, err := l.db.WaitingDeployments(ctx)
	if err != nil {
		return err
	}
	turns := map[string]bool{}
	for _, w := range waiting {
		turns[w.Deployment.ID] = true
	}
	for _, d := range list {
		if turns[d.ID] {
			continue
		}
		pending, err := l.queue.JobPending(ctx, d.ID)
		if err != nil {
			l.log.Warn("look up build job", slog.String("deployment", d.ID), slog.Any("error", err))
			continue
		}
		if pending {
			continue
		}
		if d.State == model.StateQueued {
			if err := l.requeue(ctx, d); err == nil {
				l.log.Info("queued build again after restart", slog.String("deployment", d.ID))
				continue
			}
		}
		l.db.ApplyTransition(ctx, d.ID, store.Transition{To: model.StateError, At: time.Now(),
			Error: "The build was interrupted and could not be resumed; redeploy to try again."})
		l.log.Warn("failed unfinished deployment after restart", slog.String("deployment", d.ID))
	}
	l.dispatch(ctx)
	return nil
}

func (l *Lifecycle) requeue(ctx context.Context, d *store.Deployment) error {
	owner, err := l.db.ProjectOwner(ctx, d.ProjectID)
	if err != nil {
		return err
	}
	p, err := l.db.Project(ctx, owner, d.ProjectID)
	if err != nil {
		return err
	}
	return l.enqueue(ctx, owner, p, d)
}
