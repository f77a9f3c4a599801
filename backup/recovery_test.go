package backup

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// TestRestoreSettlesUnfinishedBuilds restores a backup taken while builds
// were under way and starts the lifecycle on it with the empty build
// queue a restored berth has: a deployment that was building or uploading
// is failed with a reason, queued ones are queued again (their jobs are in
// the new queue), and the new event stream's events are applied, not
// skipped as already seen.
func TestRestoreSettlesUnfinishedBuilds(t *testing.T) {
	src, waiting := testData(t) // queued, not yet sent to the queue, event sequence 4242
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(src, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := db.DeploymentByID(ctx, waiting)
	mk := func(states ...string) string {
		d := &store.Deployment{ProjectID: first.ProjectID, Ref: "main", Branch: "main", Trigger: model.TriggerAPI}
		if err := db.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkDispatched(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if ok, err := db.ApplyTransition(ctx, d.ID, store.Transition{To: s, At: time.Now()}); err != nil || !ok {
				t.Fatalf("move to %s: %v %v", s, ok, err)
			}
		}
		return d.ID
	}
	sent := mk() // queued, its job was in the old queue
	building := mk(model.StateBuilding)
	uploading := mk(model.StateBuilding, model.StateUploading)
	var buf bytes.Buffer
	if _, err := Create(ctx, &buf, Source{DataDir: src}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	dst := t.TempDir()
	if _, err := Restore(ctx, &buf, dst); err != nil {
		t.Fatal(err)
	}
	rdb, err := store.Open(ctx, filepath.Join(dst, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Start(ctx, queue.Config{Dir: filepath.Join(dst, "jetstream")}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	key, err := secretbox.LoadOrCreateKey(filepath.Join(dst, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	l := deploys.New(deploys.Config{UserConcurrency: 10}, rdb, q.Client(), box, log)
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, id := range []string{building, uploading} {
		d, _ := rdb.DeploymentByID(ctx, id)
		if d.State != model.StateError || d.Error == "" {
			t.Errorf("deployment %s was %s at backup: now %s (%q), want error with a reason", id, d.State, d.State, d.Error)
		}
	}
	for _, id := range []string{sent, waiting} {
		d, _ := rdb.DeploymentByID(ctx, id)
		pending, err := q.Client().JobPending(ctx, id)
		if d.State != model.StateQueued || !pending || err != nil {
			t.Errorf("queued deployment %s: state %s, job pending %v (%v); want queued with its job in the new queue", id, d.State, pending, err)
		}
	}
	// A worker of the restored berth takes the job and reports: the event
	// is applied although the old stream had numbered past it.
	if err := q.Client().PublishEvent(ctx, queue.Event{DeploymentID: waiting, Kind: queue.KindState, At: time.Now().UTC(),
		State: model.StateBuilding, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, _ := rdb.DeploymentByID(ctx, waiting)
		if d.State == model.StateBuilding {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new stream's building event was not applied: state %s", d.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
