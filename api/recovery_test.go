package api_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestRecoveryAfterCrash starts a second server on the state a crashed one
// left: a queued deployment whose job was never published is queued again,
// one that was building with no job left is failed with a reason, and one
// whose job is still queued is left to its worker.
func TestRecoveryAfterCrash(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	p := h.createProject(t, adminToken, "recover")
	admin, err := h.DB.UserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	project, err := h.DB.Project(ctx, admin.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Inserted as the API would, but "crashed" before publishing the job.
	orphan := &store.Deployment{ProjectID: p.ID, Ref: "main", Branch: "main", GitURL: project.GitURL, Trigger: model.TriggerAPI}
	if err := h.DB.CreateDeployment(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	// Was building when its job vanished.
	lost := &store.Deployment{ProjectID: p.ID, Ref: "main", Branch: "main", GitURL: project.GitURL, Trigger: model.TriggerAPI}
	if err := h.DB.CreateDeployment(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.DB.ApplyTransition(ctx, lost.ID, store.Transition{To: model.StateBuilding, At: time.Now()}); err != nil || !ok {
		t.Fatalf("move to building: %v %v", ok, err)
	}
	// Queued normally: its job is in the stream.
	healthy := h.createDeployment(t, adminToken, p.ID)

	// A second start of the lifecycle on the same data recovers.
	d2 := deploys.New(deploys.Config{}, h.DB, h.Queue.Client(), h.Box, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d2.Close()

	for _, id := range []string{orphan.ID, healthy.ID} {
		pending, err := h.Queue.Client().JobPending(ctx, id)
		if err != nil || !pending {
			t.Errorf("deployment %s: job pending = %v (%v), want true", id, pending, err)
		}
		d, _ := h.DB.DeploymentByID(ctx, id)
		if d.State != model.StateQueued {
			t.Errorf("deployment %s: state %s, want queued", id, d.State)
		}
	}
	d, err := h.DB.DeploymentByID(ctx, lost.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != model.StateError || d.Error == "" {
		t.Errorf("lost deployment: state %s error %q, want error with a reason", d.State, d.Error)
	}
}
