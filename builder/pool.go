// Package builder runs builds: a pool of workers on the durable build queue,
// each fetching the source on the host, building it in a sandbox, detecting
// and uploading the output, and publishing the deployment's events. It never
// touches the database: a remote worker has none.
package builder

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// Config configures the pool.
type Config struct {
	Concurrency    int
	Image          string
	Timeout        time.Duration
	ExtraCAFile    string
	Limits         sandbox.Limits
	WorkDir        string        // host scratch space for sources and outputs
	Instance       string        // labels this instance's containers so a restart finds its orphans
	MaxAttempts    int           // deliveries of one job before it is failed (default 3)
	Heartbeat      time.Duration // how often a running build tells JetStream it is alive (default 10s)
	UploadParallel int           // uploads in flight per build (default 16)
	CacheDir       string        // per-project build caches (npm cache, .next/cache); empty: none
	CacheMaxBytes  int64         // size cap of all build caches (default DefaultCacheMaxBytes)
	LogMaxLines    int           // output lines of one build kept (default 20000)
	LogMaxBytes    int64         // output bytes of one build kept (default 10 MiB)
	// GitAllowNets are the private ranges http(s) clones may still reach
	// (the operator's own git servers); every other loopback, private,
	// link-local or otherwise internal address is refused.
	GitAllowNets []netip.Prefix
}

// Pool is the worker pool.
type Pool struct {
	cfg     Config
	queue   *queue.Client
	sb      *sandbox.Sandbox
	store   artifacts.Bucket
	secrets *secretbox.Box
	log     *slog.Logger
	cache   *buildCache // nil: builds keep no cache

	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopCancel func() // ends the subscription to cancellations

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc
	early   map[string]time.Time // cancels that arrived before their job
}

var (
	errCancelled = errors.New("cancelled by user")
	errShutdown  = errors.New("worker shutting down")
)

// New returns a pool; Start runs it.
func New(cfg Config, q *queue.Client, sb *sandbox.Sandbox, store artifacts.Bucket, secrets *secretbox.Box, log *slog.Logger) *Pool {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.UploadParallel <= 0 {
		cfg.UploadParallel = 16
	}
	if cfg.LogMaxLines <= 0 {
		cfg.LogMaxLines = 20000
	}
	if cfg.LogMaxBytes <= 0 {
		cfg.LogMaxBytes = 10 << 20
	}
	return &Pool{cfg: cfg, queue: q, sb: sb, store: putRecorder{store}, secrets: secrets, log: log,
		cache:   newBuildCache(cfg.CacheDir, cfg.CacheMaxBytes, sb, log),
		running: map[string]context.CancelCauseFunc{}, early: map[string]time.Time{}}
}

// Start removes build containers a previous run of this instance left
// behind, listens for cancellations and starts the workers.
func (p *Pool) Start(ctx context.Context) error {
	n, err := p.sb.RemoveLabelled(ctx, map[string]string{sandbox.LabelRole: "build", sandbox.LabelInstance: p.cfg.Instance})
	if err != nil {
		p.log.Warn("remove orphaned build containers", slog.Any("error", err))
	} else if n > 0 {
		p.log.Info("removed orphaned build containers", slog.Int("count", n))
	}
	jobs, err := p.queue.Jobs(ctx)
	if err != nil {
		return err
	}
	if p.stopCancel, err = p.queue.OnCancel(p.onCancel); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for range p.cfg.Concurrency {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.work(runCtx, jobs)
		}()
	}
	return nil
}

// Close stops taking jobs, interrupts running builds (their jobs are handed
// back to the queue, to run again on the next start) and waits for the
// workers.
func (p *Pool) Close() {
	if p.stopCancel != nil {
		p.stopCancel()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Lock()
	for _, cancel := range p.running {
		cancel(errShutdown)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Pool) onCancel(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cancel, ok := p.running[id]; ok {
		cancel(errCancelled)
		return
	}
	now := time.Now()
	for k, t := range p.early {
		if now.Sub(t) > time.Hour {
			delete(p.early, k)
		}
	}
	p.early[id] = now
}

func (p *Pool) work(ctx context.Context, jobs *queue.Jobs) {
	for ctx.Err() == nil {
		job, err := jobs.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("fetch build job", slog.Any("error", err))
				sleep(ctx, time.Second)
			}
			continue
		}
		p.handle(ctx, job)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
