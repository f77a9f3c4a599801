package store

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

// builtWith makes a ready deployment of projectID with its own artifact
// and inputs key.
func builtWith(t *testing.T, db *DB, projectID, key string, fork bool) *Deployment {
	t.Helper()
	d := startedWith(t, db, projectID, fork, false)
	for _, tr := range []Transition{{To: model.StateUploading}, {To: model.StateReady, OutputType: model.OutputStatic,
		ArtifactKey: model.ArtifactPrefix(d.ID), InputsKey: key}} {
		tr.At = time.Now()
		if ok, err := db.ApplyTransition(t.Context(), d.ID, tr); !ok || err != nil {
			t.Fatalf("drive to %s: %v, %v", tr.To, ok, err)
		}
	}
	got, err := db.DeploymentByID(t.Context(), d.ID)
	if err != nil || got.InputsKey != key {
		t.Fatalf("inputs key read back %+v, %v", got, err)
	}
	return got
}

// startedWith makes a building deployment of projectID.
func startedWith(t *testing.T, db *DB, projectID string, fork, rebuild bool) *Deployment {
	t.Helper()
	d := &Deployment{ProjectID: projectID, Ref: "main", Branch: "main", Trigger: model.TriggerAPI, Fork: fork, Rebuild: rebuild}
	if err := db.CreateDeployment(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.ApplyTransition(t.Context(), d.ID, Transition{To: model.StateBuilding, At: time.Now()}); !ok || err != nil {
		t.Fatalf("start build: %v, %v", ok, err)
	}
	return d
}

// TestReuseCandidates: a project's ready, non-fork, unexpired builds with a
// key, the newest per key; nothing of another project.
func TestReuseCandidates(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "ann")
	p := mustProject(t, db, u.ID, "site")
	other := mustProject(t, db, u.ID, "other")
	older := builtWith(t, db, p.ID, "k1", false)
	newer := builtWith(t, db, p.ID, "k1", false)
	k2 := builtWith(t, db, p.ID, "k2", false)
	builtWith(t, db, p.ID, "", false)       // built before keys existed
	builtWith(t, db, p.ID, "k3", true)      // a fork's
	builtWith(t, db, other.ID, "k4", false) // another project's
	expired := builtWith(t, db, p.ID, "k5", false)
	if _, err := db.ExpireDeployments(ctx, []string{expired.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	reach(t, db, p.ID, model.StateError)

	got, err := db.ReuseCandidates(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []ReuseCandidate{{k2.ID, "k2", model.ArtifactPrefix(k2.ID)}, {newer.ID, "k1", model.ArtifactPrefix(newer.ID)}}
	if !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v (not %s, the older of k1)", got, want, older.ID)
	}
}

// TestApplyReuse: a building deployment becomes ready on another build's
// artifact only when that build is of the same project, ready, not a
// fork's, not expired and has the same key, and the deployment itself is
// not a fork's nor asked to build from scratch.
func TestApplyReuse(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "ann")
	p := mustProject(t, db, u.ID, "site")
	other := mustProject(t, db, u.ID, "other")
	src := builtWith(t, db, p.ID, "key", false)
	foreign := builtWith(t, db, other.ID, "key", false)
	forkSrc := builtWith(t, db, p.ID, "fkey", true)
	expired := builtWith(t, db, p.ID, "ekey", false)
	if _, err := db.ExpireDeployments(ctx, []string{expired.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	failed := reach(t, db, p.ID, model.StateError)

	reuse := func(d *Deployment, from, key string) bool {
		t.Helper()
		ok, err := db.ApplyTransition(ctx, d.ID, Transition{To: model.StateReady, At: time.Now(), ReusedFrom: from, InputsKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	d := startedWith(t, db, p.ID, false, false)
	for _, c := range []struct{ what, from, key string }{
		{"another project's build", foreign.ID, "key"},
		{"another key", src.ID, "other"},
		{"an empty key", failed.ID, ""},
		{"a fork's build", forkSrc.ID, "fkey"},
		{"an expired build", expired.ID, "ekey"},
		{"a failed build", failed.ID, ""},
		{"itself", d.ID, ""},
		{"no such deployment", "nope", "key"},
	} {
		if reuse(d, c.from, c.key) {
			t.Fatalf("reused %s", c.what)
		}
	}
	if fork := startedWith(t, db, p.ID, true, false); reuse(fork, src.ID, "key") {
		t.Error("a fork's build reused a build")
	}
	if scratch := startedWith(t, db, p.ID, false, true); reuse(scratch, src.ID, "key") {
		t.Error("a build from scratch reused a build")
	}
	if queued := mustDeployment(t, db, p.ID); reuse(queued, src.ID, "key") {
		t.Error("a queued deployment reused a build")
	}

	if !reuse(d, src.ID, "key") {
		t.Fatal("the same project's build with the same key was not reused")
	}
	got, err := db.DeploymentByID(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.StateReady || got.ArtifactKey != model.ArtifactPrefix(src.ID) || got.OutputType != model.OutputStatic ||
		got.ReusedFrom != src.ID || got.InputsKey != "key" || got.BuildFinishedAt == nil {
		t.Fatalf("reusing deployment %+v", got)
	}
	// A reusing deployment may itself be reused: its artifact is the same.
	next := startedWith(t, db, p.ID, false, false)
	if !reuse(next, d.ID, "key") {
		t.Fatal("a reusing deployment could not be reused")
	}
	if got, _ := db.DeploymentByID(ctx, next.ID); got.ArtifactKey != model.ArtifactPrefix(src.ID) {
		t.Errorf("second reuse serves %q", got.ArtifactKey)
	}
}

// TestReclaimWaitsForReusers: an expired build is reclaimed only once no
// kept deployment serves its artifact.
func TestReclaimWaitsForReusers(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "ann")
	p := mustProject(t, db, u.ID, "site")
	src := builtWith(t, db, p.ID, "key", false)
	d := startedWith(t, db, p.ID, false, false)
	if ok, err := db.ApplyTransition(ctx, d.ID, Transition{To: model.StateReady, At: time.Now(), ReusedFrom: src.ID, InputsKey: "key"}); !ok || err != nil {
		t.Fatalf("reuse: %v, %v", ok, err)
	}
	lone := builtWith(t, db, p.ID, "other", false)
	if _, err := db.ExpireDeployments(ctx, []string{src.ID, lone.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := db.UnreclaimedDeployments(ctx); err != nil || !slices.Equal(got, []string{lone.ID}) {
		t.Fatalf("unreclaimed %v, %v: want only %s; %s's artifact is served by %s", got, err, lone.ID, src.ID, d.ID)
	}
	if _, err := db.ExpireDeployments(ctx, []string{d.ID}, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := db.UnreclaimedDeployments(ctx)
	slices.Sort(got)
	want := []string{src.ID, lone.ID, d.ID}
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("unreclaimed once the reuser expired %v, %v, want %v", got, err, want)
	}
}
