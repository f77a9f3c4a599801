package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestCrossUserIsolation: for every /v1 route that takes an id, user B gets
// 404 (never 403: B cannot even learn the row exists) for user A's rows,
// and nothing of A's changes.
func TestCrossUserIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	a, tokenA := h.newUser(t, "alice")
	b, tokenB := h.newUser(t, "bob")

	pa := h.createProject(t, tokenA, "alpha")
	pb := h.createProject(t, tokenB, "beta")
	const secret = "alice-secret-value"
	h.mustAPI(t, http.StatusOK, "PUT", "/v1/projects/"+pa.ID+"/env", tokenA,
		map[string]string{"key": "SECRET", "value": secret, "target": "build"}, nil)
	queued := h.createDeployment(t, tokenA, pa.ID)
	ready := h.createDeployment(t, tokenA, pa.ID)
	for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
		if ok, err := h.DB.ApplyTransition(ctx, ready.ID, store.Transition{To: to, At: time.Now()}); !ok || err != nil {
			t.Fatalf("drive to %s: %v %v", to, ok, err)
		}
	}
	var keyA struct{ Key struct{ ID string } }
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/api-keys", tokenA, map[string]string{"name": "second"}, &keyA)

	// A's view of their own rows, to compare after B's attempts.
	views := []string{
		"/v1/projects/" + pa.ID,
		"/v1/projects/" + pa.ID + "/env",
		"/v1/projects/" + pa.ID + "/deployments",
		"/v1/deployments/" + queued.ID,
		"/v1/deployments/" + ready.ID,
	}
	snapshot := func() map[string][]byte {
		out := map[string][]byte{}
		for _, path := range views {
			out[path] = h.mustAPI(t, http.StatusOK, "GET", path, tokenA, nil, nil).body
		}
		return out
	}
	before := snapshot()

	dep := "/v1/deployments/"
	attempts := []request{
		{method: "GET", path: "/v1/projects/" + pa.ID},
		{method: "PATCH", path: "/v1/projects/" + pa.ID, body: `{"name":"pwned"}`},
		{method: "PATCH", path: "/v1/projects/" + pa.ID, body: `{"git_url":"ftp://x"}`}, // 404, not a 400 that reveals validation ran
		{method: "DELETE", path: "/v1/projects/" + pa.ID},
		{method: "GET", path: "/v1/projects/" + pa.ID + "/env"},
		{method: "PUT", path: "/v1/projects/" + pa.ID + "/env", body: `{"key":"SECRET","value":"pwned"}`},
		{method: "PUT", path: "/v1/projects/" + pa.ID + "/env", body: `{"key":"INJECTED","value":"pwned","target":"build"}`},
		{method: "DELETE", path: "/v1/projects/" + pa.ID + "/env/SECRET"},
		{method: "DELETE", path: "/v1/projects/" + pb.ID + "/env/SECRET"}, // B's own project, A's key name
		{method: "POST", path: "/v1/projects/" + pa.ID + "/deployments"},
		{method: "POST", path: "/v1/projects/" + pa.ID + "/deployments", body: `{"ref":"main"}`},
		{method: "GET", path: "/v1/projects/" + pa.ID + "/deployments"},
		{method: "GET", path: "/v1/projects/" + pa.ID + "/webhook-deliveries"},
		{method: "GET", path: dep + queued.ID},
		{method: "GET", path: dep + ready.ID},
		{method: "GET", path: dep + queued.ID + "/logs"},
		{method: "GET", path: dep + queued.ID + "/logs", header: map[string]string{"Accept": "text/plain"}},
		{method: "GET", path: dep + ready.ID + "/logs", header: map[string]string{"Last-Event-ID": "0"}},
		{method: "POST", path: dep + queued.ID + "/cancel"},
		{method: "POST", path: dep + queued.ID + "/redeploy"},
		{method: "POST", path: dep + ready.ID + "/redeploy"},
		{method: "POST", path: dep + ready.ID + "/promote"},
		{method: "POST", path: "/v1/projects/" + pa.ID + "/rollback"},
		{method: "POST", path: "/v1/projects/" + pa.ID + "/rollback", body: `{"deployment_id":"` + ready.ID + `"}`},
		{method: "POST", path: "/v1/projects/" + pb.ID + "/rollback", body: `{"deployment_id":"` + ready.ID + `"}`}, // B's own project, A's deployment
		{method: "GET", path: "/v1/projects/" + pa.ID + "/production"},
		{method: "DELETE", path: "/v1/api-keys/" + keyA.Key.ID},
	}
	for _, r := range attempts {
		r.token = tokenB
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			res := h.do(t, r)
			wantError(t, res, http.StatusNotFound, "not_found")
			for _, leak := range []string{secret, "alpha", pa.Slug} {
				if strings.Contains(string(res.body), leak) {
					t.Errorf("answer to B mentions %q: %s", leak, res.body)
				}
			}
		})
	}

	// B's own lists do not include A's rows.
	for _, path := range []string{"/v1/projects", "/v1/api-keys", "/v1/projects/" + pb.ID + "/deployments", "/v1/projects/" + pb.ID + "/env"} {
		res := h.mustAPI(t, http.StatusOK, "GET", path, tokenB, nil, nil)
		for _, id := range []string{pa.ID, queued.ID, ready.ID, keyA.Key.ID, "SECRET"} {
			if strings.Contains(string(res.body), id) {
				t.Errorf("B's %s shows A's %s: %s", path, id, res.body)
			}
		}
	}

	after := snapshot()
	for _, path := range views {
		if !bytes.Equal(before[path], after[path]) {
			t.Errorf("A's %s changed:\n was %s\n now %s", path, before[path], after[path])
		}
	}
	if !strings.Contains(string(after["/v1/deployments/"+queued.ID]), `"state":"queued"`) {
		t.Errorf("A's queued deployment: %s", after["/v1/deployments/"+queued.ID])
	}

	p, err := h.DB.Project(ctx, a.ID, pa.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProductionDeploymentID != "" {
		t.Errorf("B promoted A's deployment: production is %s", p.ProductionDeploymentID)
	}
	vars, err := h.DB.EnvVars(ctx, a.ID, pa.ID)
	if err != nil || len(vars) != 1 {
		t.Fatalf("A's vars: %v, %v", vars, err)
	}
	if plain, err := h.Box.Open(vars[0].Sealed, model.EnvAAD(pa.ID, "SECRET")); err != nil || string(plain) != secret {
		t.Errorf("A's SECRET now opens to %q, %v", plain, err)
	}
	keys, err := h.DB.APIKeys(ctx, a.ID)
	if err != nil || len(keys) != 2 {
		t.Errorf("A's keys: %v, %v; want both", keys, err)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", tokenA, nil, nil)
	if list, _ := h.DB.Projects(ctx, b.ID); len(list) != 1 {
		t.Errorf("B has %d projects, want 1", len(list))
	}
	if deps, _ := h.DB.Deployments(ctx, b.ID, pb.ID, 0); len(deps) != 0 {
		t.Errorf("B has %d deployments, want 0", len(deps))
	}
}
