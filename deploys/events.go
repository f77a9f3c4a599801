package deploys

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// eventWriter is the one consumer of the event stream: it numbers log lines,
// applies guarded state transitions, stores both in one transaction per
// batch, fans them out to live viewers, and only then acks.
type eventWriter struct {
	db        *store.DB
	queue     *queue.Client
	broker    *broker
	onApplied func(context.Context, store.DeploymentTransition)
	log       *slog.Logger
	maxLines  int64

	cursors map[string]*store.LogCursor // owned by the loop goroutine
	in      chan *queue.Delivery
	stopIn  func() // stops the consumer feeding in
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const maxBatch = 512

// DefaultMaxLogLines is the most lines berth stores of one deployment's
// log, whatever a builder sends; maxLineBytes the longest line.
const (
	DefaultMaxLogLines = 100_000
	maxLineBytes       = 64 << 10
)

func newEventWriter(db *store.DB, q *queue.Client, b *broker, onApplied func(context.Context, store.DeploymentTransition), log *slog.Logger) *eventWriter {
	return &eventWriter{db: db, queue: q, broker: b, onApplied: onApplied, log: log,
		cursors: map[string]*store.LogCursor{}, in: make(chan *queue.Delivery, 4*maxBatch)}
}

func (w *eventWriter) start(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	stop, err := w.queue.ConsumeEvents(ctx, 2*maxBatch, func(d *queue.Delivery) {
		select {
		case w.in <- d:
		case <-loopCtx.Done():
		}
	})
	if err != nil {
		cancel()
		return err
	}
	w.stopIn = stop
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.loop(loopCtx)
	}()
	return nil
}

func (w *eventWriter) stop() {
	if w.stopIn != nil {
		w.stopIn()
	}
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
}

func (w *eventWriter) loop(ctx context.Context) {
	for {
		var batch []*queue.Delivery
		select {
		case <-ctx.Done():
			return
		case m := <-w.in:
			batch = append(batch, m)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case m := <-w.in:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		w.processUntilStored(ctx, batch)
	}
}

// processUntilStored retries a batch until it is stored (or berth stops)
// before taking newer events: storing them first would move the deployment's
// event sequence past the failed ones, which would then be skipped as
// already applied. Meanwhile the batch is kept from being redelivered.
func (w *eventWriter) processUntilStored(ctx context.Context, batch []*queue.Delivery) {
	backoff := 100 * time.Millisecond
	for {
		err := w.process(ctx, batch)
		if err == nil {
			return
		}
		w.log.Error("store events; retrying", slog.Any("error", err))
		w.cursors = map[string]*store.LogCursor{} // may be ahead of what was stored
		for _, m := range batch {
			m.InProgress()
		}
		select {
		case <-ctx.Done():
			return // unacked: JetStream redelivers them to the next run
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (w *eventWriter) cursor(ctx context.Context, id string) (*store.LogCursor, error) {
	if c, ok := w.cursors[id]; ok {
		return c, nil
	}
	c, err := w.db.LogCursor(ctx, id)
	if err != nil {
		return nil, err
	}
	w.cursors[id] = &c
	return &c, nil
}

func (w *eventWriter) process(ctx context.Context, batch []*queue.Delivery) error {
	b := store.EventBatch{Seqs: map[string]uint64{}}
	lines := map[string][]store.LogLine{}
	var order []string
	for _, m := range batch {
		ev := m.Event
		// A state an event may not carry ("queued" is the control plane's
		// own) is dropped like a malformed event, so one bad message
		// cannot wedge the stream.
		if m.Err != nil || (ev.Kind == queue.KindState && (!model.KnownState(ev.State) || ev.State == model.StateQueued)) {
			w.log.Error("drop malformed event", slog.String("subject", m.Subject), slog.Any("error", m.Err))
			continue
		}
		if ev.Kind == queue.KindState && !ownArtifacts(ev) {
			// A builder stores a deployment's files under its own
			// prefix only; any other key would make this deployment
			// serve what another one built.
			w.log.Error("drop event naming another deployment's artifacts", slog.String("subject", m.Subject),
				slog.String("deployment", ev.DeploymentID))
			continue
		}
		cur, err := w.cursor(ctx, ev.DeploymentID)
		if err != nil {
			return err
		}
		seq := m.Seq
		if seq <= cur.EventSeq {
			continue // already applied before a restart
		}
		cur.EventSeq = seq
		b.Seqs[ev.DeploymentID] = seq
		switch ev.Kind {
		case queue.KindLog:
			if cur.Ready {
				// A ready deployment's log is complete. Lines after it
				// come from a job delivered again because its ack was
				// lost (a NATS node died): that run is refused and
				// cancelled, and its lines belong to no build.
				continue
			}
			if cur.Line >= w.maxLines {
				continue // builders cap their logs well below; this guards the database
			}
			cur.Line++
			text := ev.Text
			if cur.Line == w.maxLines {
				ev.Stream, text = "system", "berth keeps no more of this log."
			}
			if len(text) > maxLineBytes {
				text = text[:maxLineBytes]
			}
			l := store.LogLine{DeploymentID: ev.DeploymentID, Line: cur.Line, Stream: ev.Stream, Text: text, At: ev.At}
			b.Lines = append(b.Lines, l)
			if lines[ev.DeploymentID] == nil {
				order = append(order, ev.DeploymentID)
			}
			lines[ev.DeploymentID] = append(lines[ev.DeploymentID], l)
		case queue.KindState:
			b.Transitions = append(b.Transitions, store.DeploymentTransition{DeploymentID: ev.DeploymentID, Transition: store.Transition{
				To: ev.State, At: ev.At, Attempt: ev.Attempt, CommitSHA: ev.CommitSHA, CommitMessage: ev.CommitMessage,
				OutputType: ev.OutputType, ArtifactKey: ev.ArtifactKey, Error: ev.Error,
				InputsKey: ev.InputsKey, ReusedFrom: ev.ReusedFrom,
			}})
		}
	}
	applied, err := w.db.WriteEvents(ctx, b)
	if err != nil {
		return err
	}
	for _, id := range order {
		w.broker.publish(id, Update{Lines: lines[id]})
	}
	for i, t := range b.Transitions {
		w.settle(ctx, t, applied[i])
	}
	for _, m := range batch {
		m.Ack()
	}
	return nil
}

// settle follows up one transition: a refused "building" means the
// deployment was cancelled or failed meanwhile, so its worker is told to
// stop; an applied one reaches live viewers.
func (w *eventWriter) settle(ctx context.Context, t store.DeploymentTransition, applied bool) {
	if !applied && t.ReusedFrom != "" {
		t, applied = w.refuseReuse(ctx, t)
	}
	if !applied {
		if t.To == model.StateBuilding {
			if d, err := w.db.DeploymentByID(ctx, t.DeploymentID); err == nil && model.Terminal(d.State) {
				w.queue.PublishCancel(t.DeploymentID)
			}
		}
		return
	}
	// Follow-ups (promotion to production) happen before viewers hear
	// "ready", so a client that then opens the project host finds it.
	if w.onApplied != nil {
		w.onApplied(ctx, t)
	}
	w.broker.publish(t.DeploymentID, Update{State: t.To, Error: t.Error})
	if model.Terminal(t.To) {
		delete(w.cursors, t.DeploymentID)
	}
}

// ownArtifacts reports whether a state event's artifact key is its
// deployment's own prefix: required for "ready", which makes the files
// served, and allowed only there. A "ready" that reuses another build
// names no key: the store takes the one of the deployment it names, after
// checking that it may (store.Transition.ReusedFrom).
func ownArtifacts(ev queue.Event) bool {
	if ev.State == model.StateReady && ev.ReusedFrom != "" {
		return ev.ArtifactKey == "" && ev.ReusedFrom != ev.DeploymentID
	}
	if ev.ReusedFrom != "" {
		return false
	}
	if ev.State == model.StateReady {
		return ev.ArtifactKey == model.ArtifactPrefix(ev.DeploymentID)
	}
	return ev.ArtifactKey == ""
}
