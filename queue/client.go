package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client speaks berth's queue contract over one NATS connection: build jobs
// (BUILDS, a work queue), deployment events (EVENTS, one ordered subject per
// deployment) and cancellations (core NATS). The control plane and every
// builder, in-process or on another host, use only this; nothing else in
// berth touches NATS.
type Client struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
	// ackWait is the builders consumers' ack wait, for the consumer of a
	// label set declared when its first job is published.
	ackWait  time.Duration
	declared sync.Map // label keys whose builders consumer exists
}

func newClient(nc *nats.Conn, log *slog.Logger) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	return &Client{nc: nc, js: js, log: log}, nil
}

// Ping reports whether NATS and JetStream answer.
func (c *Client) Ping(ctx context.Context) error {
	if !c.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	if _, err := c.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// PublishJob enqueues job durably. The deployment id is the message id, so a
// retried publish within the dedup window is dropped by JetStream.
func (c *Client) PublishJob(ctx context.Context, job BuildJob) error {
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode build job: %w", err)
	}
	if len(job.Labels) > 0 {
		key := labelKey(job.Labels)
		if _, ok := c.declared.Load(key); !ok {
			if err := declareBuilders(ctx, c.js, job.Labels, c.ackWait); err != nil {
				return err
			}
			c.declared.Store(key, true)
		}
	}
	if err := c.publish(ctx, jobSubject(job), data, job.DeploymentID); err != nil {
		return fmt.Errorf("publish build job: %w", err)
	}
	return nil
}

// publishPatience is how long a publish is tried again while a cluster
// has no leader for the stream (a node died and the others elect one).
const publishPatience = 30 * time.Second

// publish stores data on subject, trying again through a leader election.
// The message id makes a retry of a message that was stored, but whose
// acknowledgement was lost, a no-op.
func (c *Client) publish(ctx context.Context, subject string, data []byte, msgID string) error {
	deadline := time.Now().Add(publishPatience)
	for {
		tryCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.js.Publish(tryCtx, subject, data, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) || !transient(err) {
			return err
		}
		c.log.Warn("publish: trying again", slog.String("subject", subject), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// transient reports whether err may pass once the cluster has a leader.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 500
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// JobPending reports whether deploymentID's job is still in the builds
// stream (not yet acknowledged by a worker).
func (c *Client) JobPending(ctx context.Context, deploymentID string) (bool, error) {
	job, err := c.PendingJob(ctx, deploymentID)
	return job != nil, err
}

// PendingJob returns deploymentID's job while it is in the builds stream,
// or nil once a worker acknowledged it.
func (c *Client) PendingJob(ctx context.Context, deploymentID string) (*BuildJob, error) {
	s, err := c.js.Stream(ctx, StreamBuilds)
	if err != nil {
		return nil, fmt.Errorf("open builds stream: %w", err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, SubjectBuildJobs+deploymentID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// A job of a project that requires labels: one token more.
		msg, err = s.GetLastMsgForSubject(ctx, SubjectBuildJobs+"*."+deploymentID)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up build job: %w", err)
	}
	var job BuildJob
	if err := json.Unmarshal(msg.Data, &job); err != nil {
		return nil, fmt.Errorf("decode build job: %w", err)
	}
	return &job, nil
}

// Job is one delivery of a build job to a worker. The worker settles it
// exactly once: Ack when its final event is stored, Nak to hand it back.
type Job struct {
	BuildJob
	// Attempt counts deliveries of this job, 1 for the first.
	Attempt int
	msg     jetstream.Msg
}

// Ack removes the job from the queue, waiting for the server to confirm
// it (and trying again through a leader election): an ack lost with a NATS
// node would run a finished build again.
func (j *Job) Ack() error {
	deadline := time.Now().Add(publishPatience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := j.msg.DoubleAck(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) || !transient(err) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Nak hands the job back for another delivery.
func (j *Job) Nak() error { return j.msg.Nak() }

// InProgress tells JetStream the job is still being worked on, so it is not
// redelivered after the ack wait.
func (j *Job) InProgress() error { return j.msg.InProgress() }

// Jobs is a worker's view of the build queue: the durable consumers that
// hand each job to one worker at a time, one per label set the worker can
// build.
type Jobs struct {
	js     jetstream.JetStream
	sets   [][]string // label sets this worker builds
	log    *slog.Logger
	mu     sync.Mutex
	cons   map[string]jetstream.Consumer // opened consumers by name
	looked time.Time                     // when missing consumers were last looked for
	next   int                           // round robin over cons
}

// Jobs opens the build queue for taking jobs: those that require no labels,
// and those whose labels are all among labels (normalised by
// model.WorkerLabels).
func (c *Client) Jobs(ctx context.Context, labels ...string) (*Jobs, error) {
	j := &Jobs{js: c.js, sets: subsets(labels), log: c.log, cons: map[string]jetstream.Consumer{}}
	cons, err := c.js.Consumer(ctx, StreamBuilds, ConsumerBuilders)
	if err != nil {
		return nil, fmt.Errorf("open builders consumer: %w", err)
	}
	j.cons[ConsumerBuilders] = cons
	j.lookUp(ctx)
	return j, nil
}

// lookUp opens the consumers of this worker's label sets that exist by
// now: the control plane declares one when it publishes the first job of
// its label set.
func (j *Jobs) lookUp(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if time.Since(j.looked) < 10*time.Second {
		return
	}
	j.looked = time.Now()
	for _, set := range j.sets {
		name := buildersConsumer(set)
		if _, ok := j.cons[name]; ok {
			continue
		}
		cons, err := j.js.Consumer(ctx, StreamBuilds, name)
		if err == nil {
			j.cons[name] = cons
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			j.log.Warn("open builders consumer", slog.String("consumer", name), slog.Any("error", err))
		}
	}
}

// pick returns the consumer to ask next and how long to wait on it: with
// one consumer a long poll, with several a short one each in turn.
func (j *Jobs) pick() (jetstream.Consumer, time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	names := make([]string, 0, len(j.cons))
	for name := range j.cons {
		names = append(names, name)
	}
	slices.Sort(names)
	j.next++
	cons := j.cons[names[j.next%len(names)]]
	if len(names) == 1 {
		return cons, 30 * time.Second
	}
	return cons, time.Second
}

// Next waits for the next job until ctx ends. A job that cannot be decoded
// is removed from the queue (it can never succeed) and skipped.
func (j *Jobs) Next(ctx context.Context) (*Job, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(j.sets) > 1 {
			j.lookUp(ctx)
		}
		cons, wait := j.pick()
		fetchCtx, cancel := context.WithTimeout(ctx, wait)
		msg, err := cons.Next(jetstream.FetchContext(fetchCtx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				continue // nothing queued: ask again
			}
			return nil, fmt.Errorf("fetch build job: %w", err)
		}
		job := &Job{Attempt: 1, msg: msg}
		if err := json.Unmarshal(msg.Data(), &job.BuildJob); err != nil || job.DeploymentID == "" {
			j.log.Error("drop malformed build job", slog.String("subject", msg.Subject()), slog.Any("error", err))
			msg.Term()
			continue
		}
		if meta, err := msg.Metadata(); err == nil {
			job.Attempt = int(meta.NumDelivered)
		}
		return job, nil
	}
}

// PublishEvent appends ev to its deployment's event subject and waits for
// JetStream to store it.
func (c *Client) PublishEvent(ctx context.Context, ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	// A state event is tried again through a leader election; its id
	// (deployment, state, time) keeps a retry from being stored twice.
	id := fmt.Sprintf("%s-%s-%d", ev.DeploymentID, ev.State, ev.At.UnixNano())
	if err := c.publish(ctx, SubjectEvents+ev.DeploymentID, data, id); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}

// PublishEventAsync appends ev without waiting; a later PublishEvent on the
// same client is stored after it.
func (c *Client) PublishEventAsync(ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := c.js.PublishAsync(SubjectEvents+ev.DeploymentID, data); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}

// AsyncPublished is closed once every PublishEventAsync so far is stored.
func (c *Client) AsyncPublished() <-chan struct{} { return c.js.PublishAsyncComplete() }

// Delivery is one stored event as the control plane's single event consumer
// receives it: Ack once it is applied.
type Delivery struct {
	Event
	// Seq is the event's stream sequence: it only grows, so a consumer that
	// records the last one it applied can skip redeliveries.
	Seq uint64
	// Err is set when the message is not a well-formed event; it should be
	// acked and dropped.
	Err     error
	Subject string
	msg     jetstream.Msg
}

// Ack marks the event applied.
func (d *Delivery) Ack() error { return d.msg.Ack() }

// InProgress keeps the event from being redelivered while it is retried.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// ConsumeEvents hands every stored event, in order, to handle (on a NATS
// goroutine) until stop is called. Unacked events are redelivered, also to
// the next run after a restart.
func (c *Client) ConsumeEvents(ctx context.Context, maxPending int, handle func(*Delivery)) (stop func(), err error) {
	cons, err := c.js.Consumer(ctx, StreamEvents, ConsumerStore)
	if err != nil {
		return nil, fmt.Errorf("open events consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { handle(delivery(m)) }, jetstream.PullMaxMessages(maxPending))
	if err != nil {
		return nil, fmt.Errorf("consume events: %w", err)
	}
	return cc.Stop, nil
}

func delivery(m jetstream.Msg) *Delivery {
	d := &Delivery{Subject: m.Subject(), msg: m}
	meta, err := m.Metadata()
	if err != nil {
		d.Err = err
		return d
	}
	d.Seq = meta.Sequence.Stream
	if err := json.Unmarshal(m.Data(), &d.Event); err != nil {
		d.Err = fmt.Errorf("decode event: %w", err)
	} else if d.DeploymentID == "" || d.DeploymentID != strings.TrimPrefix(d.Subject, SubjectEvents) {
		d.Err = errors.New("event for another deployment than its subject")
	} else if d.Kind != KindLog && d.Kind != KindState {
		d.Err = fmt.Errorf("unknown event kind %q", d.Kind)
	}
	return d
}

// EventsCaughtUp reports whether the control plane's consumer has applied
// every stored event.
func (c *Client) EventsCaughtUp(ctx context.Context) (bool, error) {
	cons, err := c.js.Consumer(ctx, StreamEvents, ConsumerStore)
	if err != nil {
		return false, fmt.Errorf("open events consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("events consumer info: %w", err)
	}
	return info.NumPending == 0 && info.NumAckPending == 0, nil
}

// Events returns every stored event of one deployment, in order, without
// consuming them (tools and tests).
func (c *Client) Events(ctx context.Context, deploymentID string) ([]Event, error) {
	s, err := c.js.Stream(ctx, StreamEvents)
	if err != nil {
		return nil, fmt.Errorf("open events stream: %w", err)
	}
	last, err := s.GetLastMsgForSubject(ctx, SubjectEvents+deploymentID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectEvents + deploymentID}})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []Event
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		var ev Event
		if json.Unmarshal(msg.Data(), &ev) == nil {
			out = append(out, ev)
		}
		if meta, err := msg.Metadata(); err != nil || meta.Sequence.Stream >= last.Sequence {
			return out, nil
		}
	}
}

// PublishCancel tells whichever worker holds deploymentID's job to stop.
// It is not stored: a worker that takes the job later learns of the
// cancellation when its "building" transition is refused.
func (c *Client) PublishCancel(deploymentID string) error {
	if err := c.nc.Publish(SubjectCancel+deploymentID, nil); err != nil {
		return fmt.Errorf("publish cancel: %w", err)
	}
	return c.nc.Flush()
}

// OnCancel calls fn (on a NATS goroutine) with the deployment id of every
// cancellation until stop is called.
func (c *Client) OnCancel(fn func(deploymentID string)) (stop func(), err error) {
	sub, err := c.nc.Subscribe(SubjectCancel+"*", func(m *nats.Msg) {
		fn(strings.TrimPrefix(m.Subject, SubjectCancel))
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to cancellations: %w", err)
	}
	if err := c.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to cancellations: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}
