package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// buildImage returns the image for tests that run containers: they need
// Docker and are skipped under -short only.
func buildImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped under -short")
	}
	image := os.Getenv("BERTH_BUILD_IMAGE")
	if image == "" {
		t.Fatal("BERTH_BUILD_IMAGE is not set: run the tests through scripts/test")
	}
	return image
}

// testInstance returns an instance id of the test's own, so that a pool's
// start (which removes its instance's build containers) or a cleanup never
// touches the containers of another test, or of another run of the suite on
// the same engine.
func testInstance(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b)
}

// testLabels labels a container a test runs itself, and removes whatever is
// left with that label when the test ends.
func testLabels(t *testing.T, sb *sandbox.Sandbox) map[string]string {
	t.Helper()
	instance := testInstance(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sb.RemoveLabelled(ctx, map[string]string{sandbox.LabelInstance: instance})
	})
	return map[string]string{sandbox.LabelRole: "test", sandbox.LabelInstance: instance}
}

func testPool(t *testing.T, cfg Config) (*queue.Queue, *Pool) {
	t.Helper()
	q, pool, _ := testPoolWith(t, cfg, nil)
	return q, pool
}

// testPoolWith is testPool with a secret box, also returning the artifact
// store.
func testPoolWith(t *testing.T, cfg Config, secrets *secretbox.Box) (*queue.Queue, *Pool, artifacts.Bucket) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Start(context.Background(), queue.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	sb, err := sandbox.New(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	st, err := artifacts.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Instance, cfg.WorkDir = testInstance(t), t.TempDir()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sb.RemoveLabelled(ctx, map[string]string{sandbox.LabelInstance: cfg.Instance})
	})
	return q, New(cfg, q.Client(), sb, st, secrets, log), st
}

// events reads the deployment's events until a terminal state.
func events(t *testing.T, q *queue.Client, id string) []queue.Event {
	t.Helper()
	return eventsWithin(t, q, id, 2*time.Minute)
}

// eventsWithin polls the deployment's stored events until the last one is a
// terminal state; wait only bounds a test that would otherwise hang.
func eventsWithin(t *testing.T, q *queue.Client, id string, wait time.Duration) []queue.Event {
	t.Helper()
	var out []queue.Event
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if out, err = q.Events(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if n := len(out); n > 0 && out[n-1].Kind == queue.KindState && model.Terminal(out[n-1].State) {
			return out
		}
	}
	t.Fatalf("no terminal event within %s; got %+v", wait, out)
	return nil
}

func waitNotPending(t *testing.T, q *queue.Client, id string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pending, err := q.JobPending(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !pending {
			return
		}
	}
	t.Fatal("job still pending: it was not acked after its final event")
}

// A build that fails before any container runs (the repository does not
// exist) publishes building, the reason as a log line and as the error, and
// acks its job.
func TestFailedBuildReportsAndAcks(t *testing.T) {
	q, pool := testPool(t, Config{Concurrency: 1})
	ctx := context.Background()
	if err := q.Client().PublishJob(ctx, queue.BuildJob{DeploymentID: "d1", GitURL: "/nonexistent/repo", AllowLocal: true}); err != nil {
		t.Fatal(err)
	}
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	evs := events(t, q.Client(), "d1")
	if evs[0].Kind != queue.KindState || evs[0].State != "building" || evs[0].Attempt != 1 {
		t.Errorf("first event %+v, want building attempt 1", evs[0])
	}
	last := evs[len(evs)-1]
	if last.State != "error" || !strings.Contains(last.Error, "clone repository") {
		t.Errorf("final event %+v, want an error about the clone", last)
	}
	var sawErrLine bool
	for _, ev := range evs {
		sawErrLine = sawErrLine || (ev.Kind == queue.KindLog && strings.HasPrefix(ev.Text, "Error: "))
	}
	if !sawErrLine {
		t.Errorf("no error line in the log: %+v", evs)
	}
	waitNotPending(t, q.Client(), "d1")
}

// A job delivered more often than MaxAttempts is failed with a sentence and
// acked instead of being built again.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	q, pool := testPool(t, Config{Concurrency: 1, MaxAttempts: 1})
	ctx := context.Background()
	qc := q.Client()
	if err := qc.PublishJob(ctx, queue.BuildJob{DeploymentID: "d2", GitURL: "/nonexistent/repo", AllowLocal: true}); err != nil {
		t.Fatal(err)
	}
	// One delivery that "crashes": taken and handed back.
	jobs, err := qc.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job.Nak()

	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	evs := events(t, qc, "d2")
	if len(evs) != 1 || evs[0].State != "error" || !strings.Contains(evs[0].Error, "interrupted 1 times") {
		t.Fatalf("events %+v, want exactly one error about the interrupted build", evs)
	}
	waitNotPending(t, qc, "d2")
}
