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
	// ID, Host and Version name this pool on the control plane's Workers
	// page, through a heartbeat every queue.WorkerHeartbeat; an empty ID
	// sends none. Labels (model.WorkerLabels) let it take the jobs of
	// projects that require some of them too.
	ID, Host, Version string
	Labels            []string
	// KeepImages leaves an image built from a Dockerfile on the engine
	// under its deployment's tag once stored: the engine also runs the app
	// servers, which then need not load it from its archive. Elsewhere
	// (a worker) the image is removed once stored.
	KeepImages bool
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

	stopFetch  context.CancelFunc // no more jobs are taken
	cancel     context.CancelFunc // running builds are interrupted
	wg         sync.WaitGroup     // the workers
	beats      sync.WaitGroup     // the heartbeat of the pool
	stopBeats  context.CancelFunc
	stopCancel func() // ends the subscription to cancellations
	started    time.Time
	draining   bool // under mu
	// closing ends when Close is called: background cache saves stop
	// (a cache is worth less than a prompt shutdown).
	closing     context.Context
	stopClosing context.CancelFunc

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
	closing, stopClosing := context.WithCancel(context.Background())
	return &Pool{cfg: cfg, queue: q, sb: sb, store: putRecorder{store}, secrets: secrets, log: log,
		cache:   newBuildCache(cfg.CacheDir, cfg.CacheMaxBytes, sb, log),
		running: map[string]context.CancelCauseFunc{}, early: map[string]time.Time{},
		closing: closing, stopClosing: stopClosing}
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
	jobs, err := p.queue.Jobs(ctx, p.cfg.Labels...)
	if err != nil {
		return err
	}
	if p.stopCancel, err = p.queue.OnCancel(p.onCancel); err != nil {
		return err
	}
	p.started = time.Now()
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	runCtx, cancel := context.WithCancel(context.Background())
	p.stopFetch, p.cancel = stopFetch, cancel
	for range p.cfg.Concurrency {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.work(fetchCtx, runCtx, jobs)
		}()
	}
	if p.cfg.ID != "" {
		beatCtx, stopBeats := context.WithCancel(context.Background())
		p.stopBeats = stopBeats
		p.beats.Add(1)
		go func() {
			defer p.beats.Done()
			p.beat(beatCtx)
		}()
	}
	return nil
}

// Drain stops taking jobs and lets running builds finish until ctx ends;
// then Close hands back what still runs. No job is lost either way.
func (p *Pool) Drain(ctx context.Context) {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
	if p.stopFetch != nil {
		p.stopFetch()
	}
	p.sendBeat() // the Workers page shows it draining at once
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("drain: builds still running are handed back to the queue", slog.Int("running", p.Running()))
	}
	p.Close()
}

// Close stops taking jobs, interrupts running builds (their jobs are handed
// back to the queue, to run again on the next start) and waits for the
// workers.
func (p *Pool) Close() {
	if p.stopCancel != nil {
		p.stopCancel()
	}
	if p.stopFetch != nil {
		p.stopFetch()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Lock()
	for _, cancel := range p.running {
		cancel(errShutdown)
	}
	p.mu.Unlock()
	p.stopClosing()
	p.wg.Wait()
	if p.stopBeats != nil {
		p.stopBeats()
		p.beats.Wait()
		p.stopBeats = nil
	}
}

// Running is the number of builds in progress.
func (p *Pool) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.running)
}

// beat sends a heartbeat now and every queue.WorkerHeartbeat until ctx ends.
func (p *Pool) beat(ctx context.Context) {
	t := time.NewTicker(queue.WorkerHeartbeat)
	defer t.Stop()
	for {
		p.sendBeat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) sendBeat() {
	if p.cfg.ID == "" {
		return
	}
	p.mu.Lock()
	info := queue.WorkerInfo{ID: p.cfg.ID, Host: p.cfg.Host, Version: p.cfg.Version, Labels: p.cfg.Labels,
		Running: len(p.running), Capacity: p.cfg.Concurrency, Draining: p.draining, StartedAt: p.started, At: time.Now()}
	p.mu.Unlock()
	if info.Labels == nil {
		info.Labels = []string{}
	}
	if err := p.queue.PublishWorker(info); err != nil {
		p.log.Warn("send worker heartbeat", slog.Any("error", err))
	}
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

// work takes jobs until fetchCtx ends and runs each under runCtx, whose
// end interrupts it.
func (p *Pool) work(fetchCtx, runCtx context.Context, jobs *queue.Jobs) {
	for fetchCtx.Err() == nil {
		job, err := jobs.Next(fetchCtx)
		if err != nil {
			if fetchCtx.Err() == nil {
				p.log.Warn("fetch build job", slog.Any("error", err))
				sleep(fetchCtx, time.Second)
			}
			continue
		}
		p.handle(runCtx, job)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
