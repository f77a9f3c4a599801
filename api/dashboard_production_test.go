package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDashboardProductionHistory: the project page lists production
// spans with a "Roll back to this" button on earlier ones, which rolls
// back; the settings form sets the health path; a refused promotion is
// shown on the deployment page.
func TestDashboardProductionHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := newBrowser(t, h)
	csrf := b.signIn()
	p := h.createProject(t, adminToken, "shop")
	a, c := h.readyDeployment(t, adminToken, p.ID), h.readyDeployment(t, adminToken, p.ID)

	if page := b.mustGet("/projects/" + p.ID); !strings.Contains(page.body, "No deployment has been in production yet.") {
		t.Errorf("empty history not said")
	}
	for _, d := range []deploymentOut{a, c} {
		if res := b.post("/deployments/"+d.ID+"/promote", url.Values{"_csrf": {csrf}}); res.status != http.StatusSeeOther {
			t.Fatalf("promote: %d %.300s", res.status, res.body)
		}
	}
	page := b.mustGet("/projects/" + p.ID)
	if n := strings.Count(page.body, "Roll back to this"); n != 1 {
		t.Errorf("%d roll-back buttons, want 1 (the earlier deployment)", n)
	}
	if !strings.Contains(page.body, `name="deployment_id" value="`+a.ID+`"`) {
		t.Errorf("the roll-back button is not for %s", a.ID)
	}
	res := b.post("/projects/"+p.ID+"/rollback", url.Values{"_csrf": {csrf}, "deployment_id": {a.ID}})
	if res.status != http.StatusSeeOther || !strings.Contains(res.location(), "done=rolled-back") {
		t.Fatalf("roll back: %d %q %.300s", res.status, res.location(), res.body)
	}
	var out projectOut
	h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, adminToken, nil, &out)
	if out.ProductionID != a.ID {
		t.Errorf("production %s after the roll back, want %s", out.ProductionID, a.ID)
	}
	if page := b.mustGet("/projects/" + p.ID); strings.Count(page.body, `data-history="`) != 3 || !strings.Contains(page.body, "Rolled back by admin") {
		t.Errorf("history after the roll back: %.2000s", page.body)
	}

	if res := b.post("/projects/"+p.ID+"/settings", url.Values{"_csrf": {csrf}, "name": {"shop"}, "production_branch": {"main"},
		"git_url": {"https://example.com/shop.git"}, "health_path": {"/healthz"}}); res.status != http.StatusSeeOther {
		t.Fatalf("save settings: %d %.300s", res.status, res.body)
	}
	if page := b.mustGet("/projects/" + p.ID); !strings.Contains(page.body, `name="health_path" type="text" value="/healthz"`) {
		t.Error("the settings form does not show the health path")
	}

	// No artifacts were uploaded: with the gate, a promotion is refused,
	// and the deployment page says why.
	h.Deploys.SetGate(h.Serving.Warm)
	if res := b.post("/deployments/"+c.ID+"/promote", url.Values{"_csrf": {csrf}}); res.status != http.StatusConflict {
		t.Errorf("refused promote: %d", res.status)
	}
	if page := b.mustGet("/deployments/" + c.ID); !strings.Contains(page.body, `id="promotion-error"`) {
		t.Error("the deployment page does not show the promotion error")
	}
}
