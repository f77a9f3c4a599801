package deploys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/store"
)

// RetentionConfig says what old deployments keep and who deletes their data.
type RetentionConfig struct {
	// Interval between scheduled runs; 0 runs retention only when asked.
	Interval time.Duration
	// Keep is how many ready deployments each project keeps (default 10).
	Keep int
	// PromotedWithin keeps a deployment that was production this recently.
	PromotedWithin time.Duration
	// FailedAfter is how long failed and cancelled deployments outside the
	// newest Keep keep their logs (default 7 days).
	FailedAfter time.Duration
	// Promotions names the deployments that were production recently;
	// nil knows only the current production deployment.
	Promotions Promotions
	// Reclaim deletes expired deployments' artifacts, cached files and
	// containers (the data plane's, which the lifecycle does not hold).
	Reclaim func(ctx context.Context, deploymentIDs []string) Reclaimed
}

// Promotions answers which deployments of a project were production at
// some time since a moment.
type Promotions interface {
	PromotedSince(ctx context.Context, projectID string, since time.Time) ([]string, error)
}

// Reclaimed is what Reclaim deleted.
type Reclaimed struct {
	ArtifactBytes int64
	CacheBytes    int64
	// Done lists the deployments whose data is all gone; the others are
	// tried again by the next run.
	Done []string
	Err  error
}

// firstRetentionRun is how long after start the schedule first runs.
const firstRetentionRun = 5 * time.Minute

// retention runs retention on a schedule and on request, one run at a time.
type retention struct {
	cfg    RetentionConfig
	mu     sync.Mutex // one run at a time
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartRetention runs retention every cfg.Interval until Close. Call it
// once, after Start.
func (l *Lifecycle) StartRetention(cfg RetentionConfig) {
	cfg.Keep = cmp.Or(cfg.Keep, 10)
	cfg.FailedAfter = cmp.Or(cfg.FailedAfter, 7*24*time.Hour)
	l.retention.cfg = cfg
	if cfg.Interval <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.retention.cancel = cancel
	l.retention.wg.Add(1)
	go func() {
		defer l.retention.wg.Done()
		// The first run comes soon after start, so that a server
		// restarted more often than the interval still runs it.
		t := time.NewTimer(min(cfg.Interval, firstRetentionRun))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := l.RunRetention(ctx); err != nil && ctx.Err() == nil {
					l.log.Error("retention", slog.Any("error", err))
				}
				t.Reset(cfg.Interval)
			}
		}
	}()
}

// stopRetention stops the schedule and waits for a run in progress.
func (l *Lifecycle) stopRetention() {
	if l.retention.cancel != nil {
		l.retention.cancel()
	}
	l.retention.wg.Wait()
}

// RunRetention expires what the keep rule no longer keeps, deletes the data
// of expired deployments (this run's and any an earlier run left half
// done), and records the run.
func (l *Lifecycle) RunRetention(ctx context.Context) (store.RetentionRun, error) {
	r := &l.retention
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Reclaim == nil {
		return store.RetentionRun{}, errors.New("run retention: not started")
	}
	run := store.RetentionRun{StartedAt: time.Now()}
	expired, err := l.expire(ctx, run.StartedAt)
	run.Expired = len(expired)
	if err == nil {
		err = l.reclaim(ctx, &run)
	}
	run.FinishedAt = time.Now()
	run.ReclaimedBytes = run.ArtifactBytes + run.CacheBytes
	if err != nil {
		run.Error = err.Error()
	}
	if rerr := l.db.RecordRetentionRun(context.WithoutCancel(ctx), run); rerr != nil {
		err = errors.Join(err, rerr)
	}
	l.log.Info("retention", slog.Int("expired", run.Expired), slog.Int64("log_lines", run.LogLines),
		slog.Int64("artifact_bytes", run.ArtifactBytes), slog.Int64("cache_bytes", run.CacheBytes))
	return run, err
}

// expire marks what the keep rule gives up as expired, so nothing serves or
// promotes it from here on, and tells observers.
func (l *Lifecycle) expire(ctx context.Context, now time.Time) ([]string, error) {
	cfg := l.retention.cfg
	projects, err := l.db.RetentionProjects(ctx)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, p := range projects {
		ds, err := l.db.SettledDeployments(ctx, p.ID)
		if err != nil {
			return all, err
		}
		rule := keepRule{Keep: cfg.Keep, Production: p.ProductionDeploymentID, FailedAfter: cfg.FailedAfter, Now: now,
			Promoted: map[string]bool{}}
		if cfg.Promotions != nil {
			ids, err := cfg.Promotions.PromotedSince(ctx, p.ID, now.Add(-cfg.PromotedWithin))
			if err != nil {
				return all, fmt.Errorf("list recent promotions: %w", err)
			}
			for _, id := range ids {
				rule.Promoted[id] = true
			}
		}
		ids := rule.expirable(ds)
		if len(ids) == 0 {
			continue
		}
		// The store refuses any that became production meanwhile.
		ids, err = l.db.ExpireDeployments(ctx, ids, now)
		if err != nil {
			return all, err
		}
		if len(ids) > 0 {
			l.tell(ctx, Change{Kind: Expired, ProjectID: p.ID, DeploymentIDs: ids})
			all = append(all, ids...)
		}
	}
	return all, nil
}

// reclaim deletes the data of every expired deployment not yet reclaimed.
func (l *Lifecycle) reclaim(ctx context.Context, run *store.RetentionRun) error {
	ids, err := l.db.UnreclaimedDeployments(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	got := l.retention.cfg.Reclaim(ctx, ids)
	run.ArtifactBytes, run.CacheBytes = got.ArtifactBytes, got.CacheBytes
	if len(got.Done) > 0 {
		n, err := l.db.DeleteLogs(ctx, got.Done)
		run.LogLines = n
		if err != nil {
			return errors.Join(got.Err, err)
		}
		if err := l.db.MarkReclaimed(ctx, got.Done, time.Now()); err != nil {
			return errors.Join(got.Err, err)
		}
	}
	return got.Err
}
