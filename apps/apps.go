package apps

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/page"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/store"
)

// Config configures the Node servers of server deployments (Next.js
// standalone and plain Node servers).
type Config struct {
	Image       string
	Instance    string
	IdleTimeout time.Duration // stop a server this long after its last request (default 10m)
	// MaxRunning bounds the servers starting, running or stopping at once
	// (default 8). Past it, the least recently used server with no request
	// in flight stops to make room; with none, a start waits up to
	// StartWait (default 30s) and then its request gets a 503.
	MaxRunning   int
	StartWait    time.Duration
	ReapEvery    time.Duration // how often idle and crashed servers are looked for (default 15s)
	StartTimeout time.Duration // how long a server may take to answer HTTP (default 60s)
	// MaxInflight bounds the requests to one deployment in flight at once,
	// counting those waiting for its server to start (default 256).
	MaxInflight int
	// HeaderTimeout bounds the wait for a server's response head after the
	// request was sent (default 60s): 504 past it.
	HeaderTimeout time.Duration
	// StallTimeout ends a request whose visitor has taken no response
	// bytes, or sent none of its request body, for this long (default 60s).
	StallTimeout time.Duration
	Limits       sandbox.Limits // per server
	// Env returns the runtime environment ("K=V") of a deployment.
	Env func(ctx context.Context, d *store.Deployment) ([]string, error)
}

// Servers starts a deployment's Node server on its first request, proxies
// to it, and stops it when idle, when evicted, or at shutdown.
type Manager struct {
	cfg       Config
	sb        *sandbox.Sandbox
	store     artifacts.Bucket
	log       *slog.Logger
	transport *http.Transport
	group     singleflight.Group
	starts    atomic.Int64 // containers started, for tests and metrics
	reaps     atomic.Int64 // reaper passes done, for tests

	mu       sync.Mutex
	running  map[string]*app
	starting int            // slots held by servers being started, see takeSlot
	stopping int            // slots held by servers being stopped or removed
	changed  chan struct{}  // closed when a slot may have become free, see changedLocked
	busy     map[string]int // requests in flight per deployment, see enter
	spares   *spareSet      // stopped containers of idle servers, started again on demand

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    chan struct{}
	closeOnce sync.Once
}

// app is one running server container.
type app struct {
	deploymentID string
	containerID  string
	addr         string
	env          string // hash of the runtime environment it was created with
	proxy        http.Handler
	lastUsed     atomic.Int64 // unix nanoseconds of the last request's start or end
	inflight     atomic.Int64
}

func (n *app) touch() { n.lastUsed.Store(time.Now().UnixNano()) }

// New returns a manager; Start runs its reaper.
func New(cfg Config, sb *sandbox.Sandbox, st artifacts.Bucket, log *slog.Logger) *Manager {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = 8
	}
	if cfg.ReapEvery <= 0 {
		cfg.ReapEvery = 15 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.StartWait <= 0 {
		cfg.StartWait = 30 * time.Second
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 256
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 60 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 60 * time.Second
	}
	return &Manager{cfg: cfg, sb: sb, store: st, log: log, transport: newTransport(cfg.HeaderTimeout),
		running: map[string]*app{}, changed: make(chan struct{}), busy: map[string]int{},
		spares: newSpareSet(2 * cfg.MaxRunning), closed: make(chan struct{})}
}

// Start removes server containers a previous run of this instance left
// (found by label; they start again on demand) and starts the reaper.
func (s *Manager) Start(ctx context.Context) error {
	n, err := s.sb.RemoveLabelled(ctx, map[string]string{sandbox.LabelRole: "server", sandbox.LabelInstance: s.cfg.Instance})
	if err != nil {
		s.log.Warn("remove leftover server containers", slog.Any("error", err))
	} else if n > 0 {
		s.log.Info("removed leftover server containers", slog.Int("count", n))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.ReapEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.reap(ctx)
				s.reaps.Add(1)
			}
		}
	}()
	return nil
}

// Close stops the reaper and removes every server container.
func (s *Manager) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	all := make([]*app, 0, len(s.running))
	for _, n := range s.running {
		all = append(all, n)
	}
	s.running = map[string]*app{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.sb.Remove(ctx, n.containerID)
		}()
	}
	for _, sp := range s.spares.drain() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.sb.Remove(ctx, sp.containerID)
		}()
	}
	wg.Wait()
	s.transport.CloseIdleConnections()
}

// Starts reports how many server containers were started.
func (s *Manager) Starts() int64 { return s.starts.Load() }

// Running reports the container id of deploymentID's server, if it runs.
func (s *Manager) Running(deploymentID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.running[deploymentID]
	if !ok {
		return "", false
	}
	return n.containerID, true
}

// Stop removes deploymentID's server, if it runs.
func (s *Manager) Stop(deploymentID string) {
	s.mu.Lock()
	n, ok := s.running[deploymentID]
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok {
		s.forget(ctx, n, "retired")
	}
	s.dropSpare(ctx, deploymentID)
}

// get returns the deployment's server, starting it if needed; concurrent
// callers for one deployment share one start. counted reports that the
// server was started by this call and registered with its request already
// in flight, so that no other start can evict it before it is used.
func (s *Manager) get(ctx context.Context, d *store.Deployment) (n *app, counted bool, err error) {
	s.mu.Lock()
	n, ok := s.running[d.ID]
	s.mu.Unlock()
	if ok {
		return n, false, nil
	}
	v, err, _ := s.group.Do(d.ID, func() (any, error) {
		s.mu.Lock()
		n, ok := s.running[d.ID]
		s.mu.Unlock()
		if ok {
			return n, nil
		}
		n, err := s.start(context.WithoutCancel(ctx), d)
		counted = err == nil
		return n, err
	})
	if err != nil {
		return nil, false, err
	}
	return v.(*app), counted, nil
}

// start starts d's server in a slot of its own.
func (s *Manager) start(ctx context.Context, d *store.Deployment) (*app, error) {
	if err := s.takeSlot(ctx); err != nil {
		return nil, err
	}
	n, err := s.startInSlot(ctx, d)
	if err != nil {
		s.freeSlot()
	}
	return n, err
}

func (s *Manager) startInSlot(ctx context.Context, d *store.Deployment) (*app, error) {
	env, err := s.cfg.Env(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("runtime environment: %w", err)
	}
	hash := envHash(env)
	if n, ok := s.restartSpare(ctx, d, hash); ok {
		return n, nil
	}
	if d.OutputType == model.OutputDockerImage {
		return s.startImage(ctx, d, env, hash)
	}
	if err := s.sb.EnsureImage(ctx, s.cfg.Image); err != nil {
		return nil, err
	}
	user, err := s.runAs(ctx, s.cfg.Image)
	if err != nil {
		return nil, err
	}
	bundle, _, err := s.store.Get(ctx, d.ArtifactKey+model.ServerBundle)
	if err != nil {
		return nil, fmt.Errorf("fetch server bundle: %w", err)
	}
	defer bundle.Close()
	tarStream, err := gzip.NewReader(bundle)
	if err != nil {
		return nil, fmt.Errorf("read server bundle: %w", err)
	}
	cmd, cmdEnv, workDir, err := s.command(ctx, d)
	if err != nil {
		return nil, err
	}
	env = append(env, "PORT="+strconv.Itoa(serverPort), "HOSTNAME=0.0.0.0", "NODE_ENV=production")
	env = append(env, cmdEnv...)
	srv, err := s.sb.StartApp(ctx, sandbox.AppSpec{Port: serverPort, Spec: sandbox.Spec{
		Image:   s.cfg.Image,
		Cmd:     cmd,
		Env:     env,
		WorkDir: workDir,
		User:    user,
		Labels: map[string]string{
			sandbox.LabelRole:       "server",
			sandbox.LabelInstance:   s.cfg.Instance,
			sandbox.LabelDeployment: d.ID,
		},
		Limits: s.cfg.Limits,
		Files:  []sandbox.CopyIn{{Dir: "/app", Tar: tarStream}},
	}})
	if err != nil {
		return nil, err
	}
	return s.ready(ctx, d, srv, hash)
}

// ready waits for a started server to answer HTTP and registers it.
func (s *Manager) ready(ctx context.Context, d *store.Deployment, srv sandbox.App, hash string) (*app, error) {
	s.starts.Add(1)
	if err := s.waitHTTP(ctx, srv); err != nil {
		s.sb.Remove(ctx, srv.ContainerID)
		return nil, err
	}
	return s.register(d.ID, srv, hash, "started server"), nil
}

// register records a server that answers HTTP as d's running one, in the
// slot its start took, with one request (the starter's) in flight.
func (s *Manager) register(deploymentID string, srv sandbox.App, envHash, how string) *app {
	n := &app{deploymentID: deploymentID, containerID: srv.ContainerID, addr: srv.Addr, env: envHash}
	n.proxy = newProxy(srv.Addr, s.transport, s.log)
	n.touch()
	n.inflight.Store(1)
	s.mu.Lock()
	s.running[deploymentID] = n
	s.starting--
	s.mu.Unlock()
	s.log.Info(how, slog.String("deployment", deploymentID), slog.String("addr", srv.Addr))
	return n
}

// waitHTTP waits for an HTTP answer, any status: a TCP connect is not
// enough, since Docker's port proxy accepts before the app listens.
func (s *Manager) waitHTTP(ctx context.Context, srv sandbox.App) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; ; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr+"/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		if i%50 == 49 {
			if ok, err := s.sb.Running(ctx, srv.ContainerID); err == nil && !ok {
				tail, _ := s.sb.Tail(context.WithoutCancel(ctx), srv.ContainerID, 20)
				return fmt.Errorf("the app's server exited while starting:\n%s", tail)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the app's server did not answer HTTP within %s", s.cfg.StartTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reap stops servers idle since IdleTimeout and forgets crashed ones.
func (s *Manager) reap(ctx context.Context) {
	s.mu.Lock()
	all := make([]*app, 0, len(s.running))
	for _, n := range s.running {
		all = append(all, n)
	}
	s.mu.Unlock()
	for _, n := range all {
		if ctx.Err() != nil {
			return // Close removes the rest
		}
		// The engine can take seconds to answer on a busy host, and the
		// servers before n may have taken as long to stop: whether n is
		// idle is decided after, and again by forget, under the lock.
		running, err := s.sb.Running(ctx, n.containerID)
		idle := s.idle(n)
		if err != nil && !idle {
			continue
		}
		if idle || !running {
			// A stop once begun is finished even if Close comes meanwhile:
			// cut short, it left the container neither kept as a spare
			// (for Close to remove) nor removed. Close waits for it.
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			s.forget(stopCtx, n, map[bool]string{true: "idle", false: "exited"}[idle])
			cancel()
		}
	}
}

// idle reports whether n has no request in flight and none since IdleTimeout.
func (s *Manager) idle(n *app) bool {
	return n.inflight.Load() == 0 && n.lastUsed.Load() < time.Now().Add(-s.cfg.IdleTimeout).UnixNano()
}

// forget removes n (if it is still the registered server of its deployment
// and, when why is "idle", still idle: a request may have begun since reap
// looked).
func (s *Manager) forget(ctx context.Context, n *app, why string) {
	s.mu.Lock()
	registered := s.running[n.deploymentID] == n
	if registered && why == "idle" && !s.idle(n) {
		s.mu.Unlock()
		return
	}
	var reservation chan struct{}
	if registered {
		delete(s.running, n.deploymentID)
		s.stopping++
		defer s.stopped()
		if why == "idle" {
			reservation = s.spares.reserve(n.deploymentID)
		}
	}
	s.mu.Unlock()
	if !registered && why == "idle" {
		return
	}
	s.log.Info("stopped server", slog.String("deployment", n.deploymentID), slog.String("reason", why))
	if reservation != nil {
		s.park(ctx, n, reservation)
		return
	}
	s.removeContainer(ctx, n.containerID)
}

// ServeHTTP proxies r to d's server. A GET or HEAD that fails because the
// server died is retried once on a fresh server.
func (s *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request, d *store.Deployment) {
	if !s.enter(d.ID) {
		writeBusy(w, r, 5*time.Second, "This app is busy", "This deployment has as many requests in flight as berth allows. Try again in a moment.")
		return
	}
	defer s.leave(d.ID)
	w, r, done := bounded(w, r, s.cfg.StallTimeout)
	defer done()
	for attempt := 0; attempt < 2; attempt++ {
		n, err := s.acquire(r.Context(), d)
		switch {
		case errors.Is(err, errNoSlot):
			writeBusy(w, r, 30*time.Second, "Too many apps are running", "Every app server this berth may run is answering requests, so this one cannot start now. Try again in a minute.")
			return
		case errors.Is(err, context.Canceled):
			return // the visitor left
		case err != nil:
			s.log.Error("start server", slog.String("deployment", d.ID), slog.Any("error", err))
			page.Write(w, r, http.StatusBadGateway, "The app's server could not start", "berth could not start this deployment's server. Its logs are in berth's log.")
			return
		}
		retry := attempt == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		failed := &upstreamFailure{}
		s.proxy(w, r.WithContext(withFailure(r.Context(), failed, retry)), n)
		if !failed.happened || !failed.deferred {
			return
		}
		// The upstream failed before anything was written: if the
		// container died, drop it and try once more on a new one; if it
		// runs, the app itself failed (too slow, too large an answer).
		running, err := s.sb.Running(r.Context(), n.containerID)
		if err == nil && running {
			writeUpstreamError(w, r, n.addr, failed.err, s.log)
			return
		}
		if err == nil {
			s.forget(context.WithoutCancel(r.Context()), n, "crashed")
		}
		if errors.Is(r.Context().Err(), context.Canceled) {
			return
		}
	}
}

// proxy sends r to n, whose inflight counts r. The count ends even when
// the proxy panics (http.ErrAbortHandler, as it does when the visitor's
// connection fails mid-answer): a count left behind would keep n from ever
// being reaped or evicted.
func (s *Manager) proxy(w http.ResponseWriter, r *http.Request, n *app) {
	defer s.release(n)
	n.touch()
	n.proxy.ServeHTTP(w, r)
}

// release ends a use of n counted by acquire.
func (s *Manager) release(n *app) {
	n.touch()
	if n.inflight.Add(-1) == 0 {
		s.mu.Lock()
		s.changedLocked() // n may now make room for a start
		s.mu.Unlock()
	}
}

// acquire returns d's running server with the request counted in its
// inflight, which keeps reap and takeSlot from stopping it. Counting in
// happens before the lock that checks the server is still registered, and
// both stop it under that lock after seeing no request: so either they see
// this request, or this request sees the server gone and gets another.
func (s *Manager) acquire(ctx context.Context, d *store.Deployment) (*app, error) {
	for {
		n, counted, err := s.get(ctx, d)
		if err != nil {
			return nil, err
		}
		if !counted {
			n.inflight.Add(1)
		}
		s.mu.Lock()
		registered := s.running[d.ID] == n
		s.mu.Unlock()
		if registered {
			return n, nil
		}
		n.inflight.Add(-1)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}
