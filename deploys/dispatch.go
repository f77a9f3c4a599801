package deploys

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// dispatch sends waiting deployments' build jobs to the builders while their
// owners have free build slots: each turn goes to the owner with the fewest
// builds out (the oldest waiting deployment first among equals), so one
// user's fifty pushes wait behind their own builds, not in front of
// everyone else's. It returns the deployments whose job could not be
// queued; those are failed with a sentence.
func (l *Lifecycle) dispatch(ctx context.Context) map[string]error {
	l.dispatchMu.Lock()
	defer l.dispatchMu.Unlock()
	waiting, err := l.db.WaitingDeployments(ctx)
	if err != nil || len(waiting) == 0 {
		if err != nil {
			l.log.Error("list waiting deployments", slog.Any("error", err))
		}
		return nil
	}
	out, err := l.db.BuildsInFlight(ctx)
	if err != nil {
		l.log.Error("count builds in flight", slog.Any("error", err))
		return nil
	}
	failed := map[string]error{}
	for {
		i := l.nextTurn(waiting, out)
		if i < 0 {
			return failed
		}
		w := waiting[i]
		waiting = append(waiting[:i], waiting[i+1:]...)
		if err := l.send(ctx, w); err != nil {
			failed[w.Deployment.ID] = err
			continue
		}
		out[w.OwnerID]++
	}
}

// nextTurn picks the waiting deployment to send next, or -1 when every
// owner with work waiting is at their limit.
func (l *Lifecycle) nextTurn(waiting []store.Waiting, out map[string]int) int {
	best := -1
	for i, w := range waiting {
		if out[w.OwnerID] >= l.cfg.UserConcurrency {
			continue
		}
		if best < 0 || out[w.OwnerID] < out[waiting[best].OwnerID] {
			best = i // waiting is oldest first: the first of the least busy owner wins
		}
	}
	return best
}

// send publishes w's build job and marks it sent; when that fails, the
// deployment fails at once with the reason: nothing is left queued with no
// job behind it.
func (l *Lifecycle) send(ctx context.Context, w store.Waiting) error {
	d := w.Deployment
	p, err := l.db.Project(ctx, w.OwnerID, d.ProjectID)
	if err == nil {
		err = l.enqueue(ctx, w.OwnerID, p, d)
	}
	if err == nil {
		err = l.db.MarkDispatched(ctx, d.ID)
	}
	if err != nil {
		l.log.Error("queue build", slog.String("deployment", d.ID), slog.Any("error", err))
		t := store.Transition{To: model.StateError, At: time.Now(), Error: "The build could not be queued; try again."}
		if ok, _ := l.db.ApplyTransition(context.WithoutCancel(ctx), d.ID, t); ok {
			l.broker.publish(d.ID, Update{State: t.To, Error: t.Error})
			l.tell(ctx, Change{Kind: Applied, ProjectID: d.ProjectID, DeploymentIDs: []string{d.ID},
				Transition: store.DeploymentTransition{DeploymentID: d.ID, Transition: t}})
		}
	}
	return err
}

// checkQuota refuses a new deployment when ownerID (not an admin) already
// has MaxQueued builds unfinished.
func (l *Lifecycle) checkQuota(ctx context.Context, ownerID string) error {
	if l.cfg.MaxQueued <= 0 || l.isAdmin(ctx, ownerID) {
		return nil
	}
	n, err := l.db.UnfinishedBuilds(ctx, ownerID)
	if err != nil {
		return err
	}
	if n >= l.cfg.MaxQueued {
		return store.Errorf(store.ELIMIT, "You have %d builds waiting or running, the most one account may have; wait for some to finish.", n)
	}
	return nil
}

// AllowNewProject refuses a new project when user (not an admin) already
// has MaxProjects.
func (l *Lifecycle) AllowNewProject(ctx context.Context, user *store.User) error {
	if l.cfg.MaxProjects <= 0 || user.IsAdmin {
		return nil
	}
	n, err := l.db.CountProjects(ctx, user.ID)
	if err != nil {
		return err
	}
	if n >= l.cfg.MaxProjects {
		return store.Errorf(store.ELIMIT, "You have %d projects, the most one account may have; delete one first.", n)
	}
	return nil
}

func (l *Lifecycle) isAdmin(ctx context.Context, userID string) bool {
	u, err := l.db.UserByID(ctx, userID)
	return err == nil && u.IsAdmin
}
