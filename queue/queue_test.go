package queue

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func startQueue(t *testing.T) *Queue {
	t.Helper()
	return startQueueIn(t, t.TempDir())
}

func startQueueIn(t *testing.T, dir string) *Queue {
	t.Helper()
	q, err := Start(t.Context(), Config{Dir: dir, BuildAckWait: time.Minute}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

// A retried publish of the same deployment's job is dropped, and the job
// stays pending until a worker acks it.
func TestPublishJobDeduplicatesAndStaysPendingUntilAck(t *testing.T) {
	q := startQueue(t)
	c, ctx := q.Client(), t.Context()
	for range 3 {
		if err := c.PublishJob(ctx, BuildJob{DeploymentID: "d1", GitURL: "https://example.invalid/r.git"}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := c.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if job.DeploymentID != "d1" || job.GitURL != "https://example.invalid/r.git" || job.Attempt != 1 {
		t.Fatalf("job %+v, want d1 attempt 1", job)
	}
	if pending, err := c.JobPending(ctx, "d1"); err != nil || !pending {
		t.Fatalf("pending before ack = %v, %v; want true", pending, err)
	}
	if err := job.Ack(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "job acked", func() bool {
		pending, err := c.JobPending(ctx, "d1")
		return err == nil && !pending
	})
	// The two duplicates were never stored: nothing else is queued.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if extra, err := jobs.Next(short); err == nil {
		t.Fatalf("a duplicate job was delivered: %+v", extra)
	}
}

// A job handed back is delivered again with its attempt counted, and a job
// that cannot be decoded is dropped instead of wedging the queue.
func TestNakRedeliversWithAttemptAndMalformedJobsAreDropped(t *testing.T) {
	q := startQueue(t)
	c, ctx := q.Client(), t.Context()
	if _, err := c.js.Publish(ctx, SubjectBuildJobs+"bad", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishJob(ctx, BuildJob{DeploymentID: "d2"}); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		job, err := jobs.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if job.DeploymentID != "d2" || job.Attempt != want {
			t.Fatalf("delivery %d: %s attempt %d", want, job.DeploymentID, job.Attempt)
		}
		if want == 1 {
			job.Nak()
		} else {
			job.Ack()
		}
	}
	if pending, _ := c.JobPending(ctx, "bad"); pending {
		t.Error("the malformed job is still queued")
	}
}

// Events of one deployment, published async then sync, are stored and
// delivered in order with growing sequences; an event whose body names
// another deployment than its subject is flagged, not applied.
func TestEventsKeepOrderAndFlagForgeries(t *testing.T) {
	q := startQueue(t)
	c, ctx := q.Client(), t.Context()
	for _, text := range []string{"one", "two", "three"} {
		if err := c.PublishEventAsync(Event{DeploymentID: "d3", Kind: KindLog, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PublishEvent(ctx, Event{DeploymentID: "d3", Kind: KindState, State: "ready"}); err != nil {
		t.Fatal(err)
	}
	// Published on d3's subject but claiming to be d4's.
	if _, err := c.js.Publish(ctx, SubjectEvents+"d3", []byte(`{"d":"d4","k":"state","state":"ready"}`)); err != nil {
		t.Fatal(err)
	}
	stored, err := c.Events(ctx, "d3")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 5 || stored[0].Text != "one" || stored[2].Text != "three" || stored[3].State != "ready" {
		t.Fatalf("stored events %+v", stored)
	}

	var mu sync.Mutex
	var got []*Delivery
	stop, err := c.ConsumeEvents(ctx, 16, func(d *Delivery) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	waitFor(t, "all events delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 5
	})
	waitFor(t, "consumer caught up", func() bool {
		ok, err := c.EventsCaughtUp(ctx)
		return err == nil && ok
	})
	mu.Lock()
	defer mu.Unlock()
	for i, d := range got {
		if i > 0 && d.Seq <= got[i-1].Seq {
			t.Errorf("sequence %d after %d", d.Seq, got[i-1].Seq)
		}
		if forged := i == 4; forged != (d.Err != nil) {
			t.Errorf("delivery %d (%+v): err = %v", i, d.Event, d.Err)
		}
	}
}

// A cancellation reaches every subscriber with the deployment id.
func TestCancelReachesSubscribers(t *testing.T) {
	q := startQueue(t)
	c := q.Client()
	got := make(chan string, 1)
	stop, err := c.OnCancel(func(id string) { got <- id })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := c.PublishCancel("d5"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != "d5" {
			t.Fatalf("cancel for %q, want d5", id)
		}
	case <-time.After(time.Minute):
		t.Fatal("no cancellation received within a minute")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
}

// The event stream is bounded: on disk, and per event, so one build cannot
// fill the disk through its log.
func TestEventsStreamIsBounded(t *testing.T) {
	q := startQueue(t)
	c := q.Client()
	err := c.PublishEvent(t.Context(), Event{DeploymentID: "big", Kind: KindLog, Text: string(make([]byte, 512<<10))})
	if err == nil {
		t.Error("a 512 KiB event was stored")
	}
	s, err := c.js.Stream(t.Context(), StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.MaxBytes != EventsMaxBytes || cfg.MaxMsgSize <= 0 {
		t.Errorf("events stream limits: %d bytes, %d per message", cfg.MaxBytes, cfg.MaxMsgSize)
	}
}
