// Package deploys owns the deployment lifecycle: create and enqueue, cancel,
// redeploy, promote, retire and delete; the one consumer that applies
// builders' events to the store in order; recovery at start; and the one
// place that opens sealed env vars and tokens. The HTTP adapters (API,
// dashboard, webhooks) call it; the data plane and artifact clean-up learn
// what changed by observing it.
package deploys

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// Config configures the lifecycle.
type Config struct {
	// GitHubURL is GitHub's web URL (clone URLs of linked repositories),
	// default https://github.com.
	GitHubURL string
	// GitHubToken is the instance's token for owners who have none.
	GitHubToken string
	// MaxLogLines is the most lines stored of one deployment's log
	// (default DefaultMaxLogLines).
	MaxLogLines int64
	// UserConcurrency is how many builds of one owner are out to the
	// builders at once (default 2); the others wait their turn.
	UserConcurrency int
	// MaxQueued is how many unfinished builds one owner may have (0: no
	// limit); MaxProjects how many projects. The admin has neither limit.
	MaxQueued   int
	MaxProjects int
	// AllowLocalGit lets every project build from a path or file:// URL on
	// the builder's host; otherwise only the administrator's projects may.
	AllowLocalGit bool
	// HealthTimeout bounds a promotion's wait for the deployment to be
	// ready to serve: its server started and answering its health path
	// (default DefaultHealthTimeout).
	HealthTimeout time.Duration
	// JobSecrets is the worker key: build jobs' secrets (build env vars,
	// clone tokens) are sealed with it, so a worker on another host holds
	// that key and never the instance's, which opens every stored secret.
	// Nil: the instance key (tests).
	JobSecrets *secretbox.Box
}

// Lifecycle runs deployments from creation to their final state.
type Lifecycle struct {
	cfg       Config
	db        *store.DB
	queue     *queue.Client
	secrets   *secretbox.Box
	log       *slog.Logger
	broker    *broker
	events    *eventWriter
	observers []Observer
	gate      atomic.Pointer[Gate]
	promoteMu sync.Mutex // production moves and observers hear of it in one order

	dispatchMu sync.Mutex // one dispatch pass at a time
	retention  retention
}

// New returns a lifecycle; add observers, then Start it.
func New(cfg Config, db *store.DB, q *queue.Client, secrets *secretbox.Box, log *slog.Logger) *Lifecycle {
	cfg.GitHubURL = strings.TrimSuffix(cfg.GitHubURL, "/")
	cfg.UserConcurrency = cmp.Or(cfg.UserConcurrency, 2)
	cfg.HealthTimeout = cmp.Or(cfg.HealthTimeout, DefaultHealthTimeout)
	if cfg.GitHubURL == "" {
		cfg.GitHubURL = "https://github.com"
	}
	if cfg.JobSecrets == nil {
		cfg.JobSecrets = secrets
	}
	l := &Lifecycle{cfg: cfg, db: db, queue: q, secrets: secrets, log: log, broker: newBroker()}
	l.events = newEventWriter(db, q, l.broker, l.applied, log)
	l.events.maxLines = cmp.Or(cfg.MaxLogLines, DefaultMaxLogLines)
	return l
}

// Observe adds fn to the observers told of every change. Call it before
// Start.
func (l *Lifecycle) Observe(fn Observer) { l.observers = append(l.observers, fn) }

// Start applies what builders published while berth was down, then keeps
// applying new events, and recovers deployments a crash left unfinished.
func (l *Lifecycle) Start(ctx context.Context) error {
	if err := l.events.start(ctx); err != nil {
		return err
	}
	return l.recover(ctx)
}

// CloseStreams ends every live log stream, so that HTTP shutdown does not
// wait on them.
func (l *Lifecycle) CloseStreams() { l.broker.closeAll() }

// Close stops retention, ends live streams and stops applying events.
func (l *Lifecycle) Close() {
	l.stopRetention()
	l.broker.closeAll()
	l.events.stop()
}

// Ping reports whether the queue answers.
func (l *Lifecycle) Ping(ctx context.Context) error { return l.queue.Ping(ctx) }

// Subscribe follows one deployment's live updates until the returned func
// is called.
func (l *Lifecycle) Subscribe(deploymentID string) (*Subscriber, func()) {
	return l.broker.subscribe(deploymentID)
}
