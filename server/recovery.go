package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// recover makes sure no deployment left unfinished by a crash stays so
// forever. It first lets the event consumer apply what workers published
// before the crash; then every unfinished deployment either still has its
// job in the queue (a worker will run or rerun it), is queued again (it was
// inserted but its job never published), or is failed with the reason.
func (s *Server) recover(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := s.events.caughtUp(ctx)
		if err != nil {
			s.deps.Log.Warn("check event backlog", slog.Any("err", err))
			break
		}
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := s.deps.DB.UnfinishedDeployments(ctx)
	if err != nil {
		return err
	}
	for _, d := range list {
		pending, err := queue.JobPending(ctx, s.deps.JS, d.ID)
		if err != nil {
			s.deps.Log.Warn("look up build job", slog.String("deployment", d.ID), slog.Any("err", err))
			continue
		}
		if pending {
			continue
		}
		if d.State == model.StateQueued {
			if err := s.requeue(ctx, d); err == nil {
				s.deps.Log.Info("queued build again after restart", slog.String("deployment", d.ID))
				continue
			}
		}
		s.deps.DB.ApplyTransition(ctx, d.ID, store.Transition{To: model.StateError, At: time.Now(),
			Error: "The build was interrupted and could not be resumed; redeploy to try again."})
		s.deps.Log.Warn("failed unfinished deployment after restart", slog.String("deployment", d.ID))
	}
	return nil
}

func (s *Server) requeue(ctx context.Context, d *store.Deployment) error {
	owner, err := s.deps.DB.ProjectOwner(ctx, d.ProjectID)
	if err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, owner, d.ProjectID)
	if err != nil {
		return err
	}
	return s.enqueue(ctx, owner, p, d)
}
