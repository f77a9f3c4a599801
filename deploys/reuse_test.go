package deploys_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// builtWith drives a new deployment of projectID to ready in the store with
// its own artifact and inputs key.
func builtWith(t *testing.T, db *store.DB, projectID, key string) *store.Deployment {
	t.Helper()
	d := &store.Deployment{ProjectID: projectID, Ref: "main", Branch: "main", Trigger: model.TriggerAPI}
	if err := db.CreateDeployment(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []store.Transition{{To: model.StateBuilding}, {To: model.StateUploading},
		{To: model.StateReady, OutputType: model.OutputStatic, ArtifactKey: model.ArtifactPrefix(d.ID), InputsKey: key}} {
		tr.At = time.Now()
		if ok, err := db.ApplyTransition(t.Context(), d.ID, tr); !ok || err != nil {
			t.Fatalf("to %s: %v %v", tr.To, ok, err)
		}
	}
	return d
}

// waitFor polls deployment id until done says yes.
func waitFor(t *testing.T, db *store.DB, id, what string, done func(*store.Deployment) bool) *store.Deployment {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		d, err := db.DeploymentByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: deployment %+v", what, d)
		}
	}
}

// TestReuseEventsAreChecked: a worker's "reuse" report makes a deployment
// ready on the named build's artifact only when the control plane's own
// records allow it; a report naming an artifact key is dropped, and one
// naming another project's build (or another key) fails the deployment
// with a sentence instead of leaving it building.
func TestReuseEventsAreChecked(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	other := &store.Project{OwnerID: e.owner.ID, Name: "other", GitURL: "https://example.com/other.git"}
	if err := e.db.CreateProject(ctx, other); err != nil {
		t.Fatal(err)
	}
	src := builtWith(t, e.db, e.p.ID, "key")
	foreign := builtWith(t, e.db, other.ID, "key")
	building := func() *store.Deployment {
		t.Helper()
		d := &store.Deployment{ProjectID: e.p.ID, Ref: "feature", Branch: "feature", Trigger: model.TriggerAPI}
		if err := e.db.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.db.ApplyTransition(ctx, d.ID, store.Transition{To: model.StateBuilding, At: time.Now()}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		return d
	}
	publish := func(d *store.Deployment, ev queue.Event) {
		t.Helper()
		ev.DeploymentID, ev.At, ev.Kind, ev.State = d.ID, time.Now(), queue.KindState, model.StateReady
		if err := e.q.Client().PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	forged := building()
	publish(forged, queue.Event{ReusedFrom: src.ID, InputsKey: "key", ArtifactKey: model.ArtifactPrefix(foreign.ID)})
	publish(forged, queue.Event{ReusedFrom: foreign.ID, InputsKey: "key"})
	got := waitFor(t, e.db, forged.ID, "a reuse of another project's build", func(d *store.Deployment) bool { return d.State != model.StateBuilding })
	if got.State != model.StateError || got.ArtifactKey != "" || !strings.Contains(got.Error, "can no longer be reused") {
		t.Fatalf("after forged reuses: %+v", got)
	}

	wrongKey := building()
	publish(wrongKey, queue.Event{ReusedFrom: src.ID, InputsKey: "another"})
	got = waitFor(t, e.db, wrongKey.ID, "a reuse with another key", func(d *store.Deployment) bool { return d.State != model.StateBuilding })
	if got.State != model.StateError || got.ArtifactKey != "" {
		t.Fatalf("after a reuse with another key: %+v", got)
	}

	good := building()
	publish(good, queue.Event{ReusedFrom: src.ID, InputsKey: "key", OutputType: model.OutputNodeServer})
	got = waitFor(t, e.db, good.ID, "a reuse of the project's own build", func(d *store.Deployment) bool { return d.State != model.StateBuilding })
	if got.State != model.StateReady || got.ArtifactKey != model.ArtifactPrefix(src.ID) || got.ReusedFrom != src.ID ||
		got.OutputType != model.OutputStatic {
		t.Fatalf("after a valid reuse: %+v", got)
	}
}

// TestJobsOfferReusableBuilds: a build job carries the project's reusable
// builds, except a redeploy that did not ask for reuse and a fork's build.
func TestJobsOfferReusableBuilds(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	src := builtWith(t, e.db, e.p.ID, "key")
	job := func(d *store.Deployment) []queue.ReuseCandidate {
		t.Helper()
		j, err := e.q.Client().PendingJob(ctx, d.ID)
		if err != nil || j == nil {
			t.Fatalf("pending job of %s: %v, %v", d.ID, j, err)
		}
		return j.Reuse
	}
	want := []queue.ReuseCandidate{{DeploymentID: src.ID, InputsKey: "key", ArtifactKey: model.ArtifactPrefix(src.ID)}}

	pushed, err := e.l.Deploy(ctx, e.owner.ID, e.p, &store.Deployment{ProjectID: e.p.ID, Ref: "main", Trigger: model.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	if got := job(pushed); !slices.Equal(got, want) {
		t.Errorf("a push's job offers %v, want %v", got, want)
	}
	scratch, err := e.l.Redeploy(ctx, e.owner.ID, src, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := job(scratch); len(got) != 0 || !scratch.Rebuild {
		t.Errorf("a redeploy from scratch offers %v (rebuild %v)", got, scratch.Rebuild)
	}
	reuse, err := e.l.Redeploy(ctx, e.owner.ID, src, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := job(reuse); !slices.Equal(got, want) {
		t.Errorf("a redeploy asking for reuse offers %v, want %v", got, want)
	}
	fork, err := e.l.Deploy(ctx, e.owner.ID, e.p, &store.Deployment{ProjectID: e.p.ID, Ref: "main", Trigger: model.TriggerAPI, Fork: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := job(fork); len(got) != 0 {
		t.Errorf("a fork's job offers %v", got)
	}
}
