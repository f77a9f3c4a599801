package deploys_test

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// TestEventsNameOnlyTheirOwnArtifacts: a "ready" event whose artifact key
// is another deployment's prefix (a builder taking over what another
// project serves), or a key on any other state, is dropped; the
// deployment's own prefix makes it ready.
func TestEventsNameOnlyTheirOwnArtifacts(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	victim := e.ready(t)
	d := &store.Deployment{ProjectID: e.p.ID, Ref: "feature", Branch: "feature", Trigger: model.TriggerAPI}
	if err := e.db.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	publish := func(ev queue.Event) {
		t.Helper()
		ev.DeploymentID, ev.At = d.ID, time.Now()
		if err := e.q.Client().PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// waitLine waits for a log line published after the events before it
	// on the same subject, so those have been dealt with.
	waitLine := func(text string) {
		t.Helper()
		publish(queue.Event{Kind: queue.KindLog, Stream: "stdout", Text: text})
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			lines, err := e.db.LogLines(ctx, d.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) > 0 && lines[len(lines)-1].Text == text {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("log line %q never stored", text)
			}
		}
	}
	state := func() *store.Deployment {
		t.Helper()
		cur, err := e.db.DeploymentByID(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}

	publish(queue.Event{Kind: queue.KindState, State: model.StateBuilding})
	publish(queue.Event{Kind: queue.KindState, State: model.StateUploading, ArtifactKey: model.ArtifactPrefix(d.ID)})
	waitLine("after a key on uploading")
	if cur := state(); cur.State != model.StateBuilding {
		t.Fatalf("an uploading event with an artifact key was applied: %s", cur.State)
	}
	publish(queue.Event{Kind: queue.KindState, State: model.StateUploading})
	for _, key := range []string{model.ArtifactPrefix(victim.ID), "deployments/", "", model.ArtifactPrefix(d.ID) + "../" + victim.ID + "/"} {
		publish(queue.Event{Kind: queue.KindState, State: model.StateReady, OutputType: model.OutputStatic, ArtifactKey: key})
	}
	waitLine("after the forgeries")
	if cur := state(); cur.State != model.StateUploading || cur.ArtifactKey != "" {
		t.Fatalf("a forged ready was applied: state %s, artifact key %q", cur.State, cur.ArtifactKey)
	}
	publish(queue.Event{Kind: queue.KindState, State: model.StateReady, OutputType: model.OutputStatic, ArtifactKey: model.ArtifactPrefix(d.ID)})
	for deadline := time.Now().Add(time.Minute); state().State != model.StateReady; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deployment's own ready was not applied")
		}
	}
	if cur := state(); cur.ArtifactKey != model.ArtifactPrefix(d.ID) {
		t.Fatalf("the deployment's own ready: artifact key %q", cur.ArtifactKey)
	}

	// A ready deployment's log is complete: the lines of a job delivered
	// again after a lost ack are not added to it.
	readyID := d.ID
	before, err := e.db.LogLines(ctx, readyID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	publish(queue.Event{Kind: queue.KindLog, Stream: "system", Text: "Attempt 2 of 3: the previous run stopped before it finished."})
	probe := &store.Deployment{ProjectID: e.p.ID, Ref: "feature", Branch: "feature", Trigger: model.TriggerAPI}
	if err := e.db.CreateDeployment(ctx, probe); err != nil {
		t.Fatal(err)
	}
	d = probe // events on another subject, applied after the one above
	waitLine("the probe's line")
	after, err := e.db.LogLines(ctx, readyID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("a ready deployment's log grew from %d to %d lines", len(before), len(after))
	}
}
