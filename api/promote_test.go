package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type productionEntry struct {
	DeploymentID string     `json:"deployment_id"`
	From         time.Time  `json:"from"`
	To           *time.Time `json:"to"`
	PromotedBy   string     `json:"promoted_by"`
	Reason       string
}

// TestRollbackAndHistory: promote, roll back to the previous production
// deployment and to a named one; the history lists each span newest first
// with who put it there.
func TestRollbackAndHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u, token := h.newUser(t, "ann")
	p := h.createProject(t, token, "shop")
	if res := h.api(t, "POST", "/v1/projects/"+p.ID+"/rollback", token, nil, nil); res.status != http.StatusNotFound ||
		!strings.Contains(string(res.body), "no earlier production deployment") {
		t.Errorf("rollback with no history: %d %s", res.status, res.body)
	}
	a, b := h.readyDeployment(t, token, p.ID), h.readyDeployment(t, token, p.ID)
	var out projectOut
	for _, d := range []deploymentOut{a, b} {
		h.mustAPI(t, 200, "POST", "/v1/deployments/"+d.ID+"/promote", token, nil, &out)
	}
	h.mustAPI(t, 200, "POST", "/v1/projects/"+p.ID+"/rollback", token, nil, &out)
	if out.ProductionID != a.ID {
		t.Errorf("rollback answered production %s, want %s", out.ProductionID, a.ID)
	}
	h.mustAPI(t, 200, "POST", "/v1/projects/"+p.ID+"/rollback", token, map[string]string{"deployment_id": b.ID}, &out)
	if out.ProductionID != b.ID {
		t.Errorf("rollback to %s answered production %s", b.ID, out.ProductionID)
	}
	var hist []productionEntry
	h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID+"/production", token, nil, &hist)
	want := []struct{ id, by string }{{b.ID, "rollback"}, {a.ID, "rollback"}, {b.ID, u.ID}, {a.ID, u.ID}}
	if len(hist) != len(want) {
		t.Fatalf("history: %+v", hist)
	}
	for i, w := range want {
		if hist[i].DeploymentID != w.id || hist[i].PromotedBy != w.by || (hist[i].To == nil) != (i == 0) {
			t.Errorf("entry %d: %+v, want %s by %s", i, hist[i], w.id, w.by)
		}
	}
	if !strings.Contains(hist[0].Reason, "ann") {
		t.Errorf("a rollback's reason %q does not say who", hist[0].Reason)
	}

	// A deployment of another project of the same owner is not this
	// project's to roll back to.
	other := h.createProject(t, token, "other")
	od := h.readyDeployment(t, token, other.ID)
	wantError(t, h.api(t, "POST", "/v1/projects/"+p.ID+"/rollback", token, map[string]string{"deployment_id": od.ID}, nil), http.StatusNotFound, "not_found")
	// Nor is a deployment that is not ready.
	queued := h.createDeployment(t, token, p.ID)
	wantError(t, h.api(t, "POST", "/v1/projects/"+p.ID+"/rollback", token, map[string]string{"deployment_id": queued.ID}, nil), http.StatusConflict, "conflict")
}

// TestPromoteScenarios: another user's deployment is not found; a
// deployment that is not ready, or whose artifacts are gone, is a conflict
// with a sentence, and production stays where it was.
func TestPromoteScenarios(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Deploys.SetGate(h.Serving.Warm)
	_, tokenA := h.newUser(t, "ann")
	_, tokenB := h.newUser(t, "bob")
	p := h.createProject(t, tokenA, "site")

	mine := h.readyDeployment(t, tokenA, p.ID)
	wantError(t, h.api(t, "POST", "/v1/deployments/"+mine.ID+"/promote", tokenB, nil, nil), http.StatusNotFound, "not_found")
	wantError(t, h.api(t, "GET", "/v1/projects/"+p.ID+"/production", tokenB, nil, nil), http.StatusNotFound, "not_found")

	queued := h.createDeployment(t, tokenA, p.ID)
	res := h.api(t, "POST", "/v1/deployments/"+queued.ID+"/promote", tokenA, nil, nil)
	wantError(t, res, http.StatusConflict, "conflict")
	if !strings.Contains(string(res.body), "ready") {
		t.Errorf("promote a queued deployment: %s", res.body)
	}

	// readyDeployment uploads nothing: its files are not in the store.
	res = h.api(t, "POST", "/v1/deployments/"+mine.ID+"/promote", tokenA, nil, nil)
	wantError(t, res, http.StatusConflict, "conflict")
	if !strings.Contains(string(res.body), "gone from the artifact store") {
		t.Errorf("promote a deployment without artifacts: %s", res.body)
	}
	var d struct {
		PromotionError string `json:"promotion_error"`
	}
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+mine.ID, tokenA, nil, &d)
	if !strings.Contains(d.PromotionError, "gone") {
		t.Errorf("promotion_error %q", d.PromotionError)
	}
	var out projectOut
	h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, tokenA, nil, &out)
	if out.ProductionID != "" {
		t.Errorf("a refused promotion moved production to %s", out.ProductionID)
	}
}

// TestHealthPathSetting: health_path defaults to "/", is set by POST and
// PATCH, and must be a path.
func TestHealthPathSetting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var p struct {
		ID         string
		HealthPath string `json:"health_path"`
	}
	h.mustAPI(t, 201, "POST", "/v1/projects", adminToken, map[string]string{"name": "a", "git_url": "https://example.com/a.git"}, &p)
	if p.HealthPath != "/" {
		t.Errorf("default health_path %q", p.HealthPath)
	}
	h.mustAPI(t, 201, "POST", "/v1/projects", adminToken, map[string]string{"name": "b", "git_url": "https://example.com/b.git", "health_path": "/healthz"}, &p)
	if p.HealthPath != "/healthz" {
		t.Errorf("health_path %q, want /healthz", p.HealthPath)
	}
	h.mustAPI(t, 200, "PATCH", "/v1/projects/"+p.ID, adminToken, map[string]string{"health_path": "/api/up"}, &p)
	if p.HealthPath != "/api/up" {
		t.Errorf("patched health_path %q", p.HealthPath)
	}
	wantError(t, h.api(t, "PATCH", "/v1/projects/"+p.ID, adminToken, map[string]string{"health_path": "healthz"}, nil), http.StatusBadRequest, "invalid")
}
