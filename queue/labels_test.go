package queue

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A job goes only to a worker that has every label its project requires,
// and it is still found pending by its deployment id alone.
func TestLabelledJobsGoToMatchingWorkers(t *testing.T) {
	q := startQueue(t)
	c, ctx := q.Client(), t.Context()
	for _, job := range []BuildJob{
		{DeploymentID: "plain"},
		{DeploymentID: "arm", Labels: []string{"arm64"}},
		{DeploymentID: "armbig", Labels: []string{"arm64", "big"}},
	} {
		if err := c.PublishJob(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	if pending, err := c.JobPending(ctx, "armbig"); err != nil || !pending {
		t.Fatalf("labelled job pending = %v, %v; want true", pending, err)
	}
	take := func(labels []string, want string) {
		t.Helper()
		jobs, err := c.Jobs(ctx, labels...)
		if err != nil {
			t.Fatal(err)
		}
		if want != "" {
			job, err := jobs.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if job.DeploymentID != want {
				t.Fatalf("worker %v took %s, want %s", labels, job.DeploymentID, want)
			}
			if err := job.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		// Every consumer of its label sets is asked at least once in 5 s.
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if extra, err := jobs.Next(short); err == nil {
			t.Fatalf("worker %v also took %s", labels, extra.DeploymentID)
		}
	}
	take(nil, "plain")
	take([]string{"big"}, "")
	take([]string{"arm64"}, "arm")
	take([]string{"arm64", "big", "gpu"}, "armbig")
	waitFor(t, "labelled job acked", func() bool {
		pending, err := c.JobPending(ctx, "armbig")
		return err == nil && !pending
	})
}

// A queue declared by an older berth, whose builders consumer took every
// job subject, is brought to the filtered layout at start.
func TestBuildersConsumerOfAnOlderLayoutIsUpdated(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := Start(t.Context(), Config{Dir: dir, BuildAckWait: time.Minute}, log)
	if err != nil {
		t.Fatal(err)
	}
	js := q.Client().js
	if err := js.DeleteConsumer(t.Context(), StreamBuilds, ConsumerBuilders); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(t.Context(), StreamBuilds, jetstream.ConsumerConfig{Durable: ConsumerBuilders,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1, MaxAckPending: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := q.Client().PublishJob(t.Context(), BuildJob{DeploymentID: "old"}); err != nil {
		t.Fatal(err)
	}
	q.Close()

	q = startQueueIn(t, dir)
	c := q.Client()
	if err := c.PublishJob(t.Context(), BuildJob{DeploymentID: "new", Labels: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(t.Context())
	if err != nil || job.DeploymentID != "old" {
		t.Fatalf("after the update: %v, %v; want the job queued before it", job, err)
	}
}
