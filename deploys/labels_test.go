package deploys_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestJobCarriesWorkerLabels: a project's worker labels go out with its
// build job, and the deployment's log says which worker it waits for; a
// project without labels queues a job without them and no such line.
func TestJobCarriesWorkerLabels(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	labelled := &store.Project{OwnerID: e.owner.ID, Name: "arm", GitURL: "https://example.com/arm.git", WorkerLabels: []string{"big", "arm64"}}
	single := &store.Project{OwnerID: e.owner.ID, Name: "gpu", GitURL: "https://example.com/gpu.git", WorkerLabels: []string{"gpu"}}
	for _, p := range []*store.Project{labelled, single} {
		if err := e.db.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		p      *store.Project
		labels []string
		line   string
	}{
		{labelled, []string{"arm64", "big"}, "Waiting for a worker with the labels arm64, big."},
		{single, []string{"gpu"}, "Waiting for a worker with the label gpu."},
		{e.p, nil, ""},
	} {
		d, err := e.l.Deploy(ctx, e.owner.ID, c.p, &store.Deployment{ProjectID: c.p.ID, Trigger: model.TriggerAPI})
		if err != nil {
			t.Fatal(err)
		}
		job, err := e.q.Client().PendingJob(ctx, d.ID)
		if err != nil || job == nil {
			t.Fatalf("no build job for %s: %v", d.ID, err)
		}
		if !slices.Equal(job.Labels, c.labels) {
			t.Errorf("%s: job labels %q, want %q", c.p.Name, job.Labels, c.labels)
		}
		log := e.logText(t, d.ID)
		if c.line != "" && log != c.line+"\n" {
			t.Errorf("%s: log %q, want the line %q", c.p.Name, log, c.line)
		}
		if c.line == "" && strings.Contains(log, "Waiting for a worker") {
			t.Errorf("%s: a job without labels waits for a worker in its log: %q", c.p.Name, log)
		}
	}
}
