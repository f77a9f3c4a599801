package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestDashboardReuse: a deployment that serves another's build says whose
// on its page; the dashboard's Redeploy builds from scratch.
func TestDashboardReuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := newBrowser(t, h)
	csrf := b.signIn()
	ctx := t.Context()
	p := h.createProject(t, adminToken, "shop")
	drive := func(id string, ts ...store.Transition) {
		t.Helper()
		for _, tr := range ts {
			tr.At = time.Now()
			if ok, err := h.DB.ApplyTransition(ctx, id, tr); !ok || err != nil {
				t.Fatalf("drive %s to %s: %v %v", id, tr.To, ok, err)
			}
		}
	}
	src := h.createDeployment(t, adminToken, p.ID)
	drive(src.ID, store.Transition{To: model.StateBuilding}, store.Transition{To: model.StateUploading},
		store.Transition{To: model.StateReady, OutputType: model.OutputStatic, ArtifactKey: model.ArtifactPrefix(src.ID), InputsKey: "key"})
	d := h.createDeployment(t, adminToken, p.ID)
	drive(d.ID, store.Transition{To: model.StateBuilding}, store.Transition{To: model.StateReady, ReusedFrom: src.ID, InputsKey: "key"})

	if page := b.mustGet("/deployments/" + d.ID); !strings.Contains(page.body, `id="reused-from"`) ||
		!strings.Contains(page.body, `href="/deployments/`+src.ID+`"`) {
		t.Errorf("the reusing deployment's page does not name %s:\n%.3000s", src.ID, page.body)
	}
	if page := b.mustGet("/deployments/" + src.ID); strings.Contains(page.body, `id="reused-from"`) {
		t.Error("a deployment that built its own says it reused a build")
	}

	res := b.post("/deployments/"+d.ID+"/redeploy", url.Values{"_csrf": {csrf}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("redeploy: %d %.300s", res.status, res.body)
	}
	id := strings.TrimPrefix(res.location(), "/deployments/")
	again, err := h.DB.DeploymentByID(ctx, id)
	if err != nil {
		t.Fatalf("redeployed %q: %v", res.location(), err)
	}
	if !again.Rebuild || len(pendingJob(t, h, id).Reuse) != 0 {
		t.Errorf("the dashboard's redeploy may reuse a build: rebuild %v", again.Rebuild)
	}
}
