package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestHostRouting: deployment hosts go to serving (HTML pages, never the
// API or its JSON); the bare domain and other hosts reach the API.
func TestHostRouting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "site")
	queued := h.createDeployment(t, adminToken, p.ID)
	cancelled := h.createDeployment(t, adminToken, p.ID)
	h.mustAPI(t, 200, "POST", "/v1/deployments/"+cancelled.ID+"/cancel", adminToken, nil, nil)
	failed := h.createDeployment(t, adminToken, p.ID)
	if ok, err := h.DB.ApplyTransition(t.Context(), failed.ID, store.Transition{To: model.StateError, At: time.Now(), Error: "x"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	host := func(d deploymentOut) string { return d.ID[:8] + "-preview.localhost" }

	pages := []struct {
		name, host, path string
		token            string
		status           int
		text             string
	}{
		{"unknown preview", "0badc0de-preview.localhost", "/", "", 404, "Nothing deployed here"},
		{"unknown preview with port", "0badc0de-preview.localhost:" + h.Port, "/", "", 404, "Nothing deployed here"},
		{"unknown preview in capitals", "0BADC0DE-PREVIEW.LOCALHOST", "/", "", 404, "Nothing deployed here"},
		{"api path on a preview host", "0badc0de-preview.localhost", "/v1/projects", adminToken, 404, "Nothing deployed here"},
		{"health path on a preview host", "0badc0de-preview.localhost", "/healthz", "", 404, "Nothing deployed here"},
		{"unknown project host", "nothing.localhost", "/", "", 404, "Nothing deployed here"},
		{"project without production", p.Slug + ".localhost:" + h.Port, "/", "", 404, "Nothing deployed here"},
		{"nested host", "a.b.localhost", "/", "", 404, "Nothing deployed here"},
		{"queued", host(queued), "/", "", 503, "Building"},
		{"queued, any path", host(queued) + ":" + h.Port, "/assets/app.js", "", 503, "Building"},
		{"queued, api path", host(queued), "/v1/deployments/" + queued.ID, adminToken, 503, "Building"},
		{"cancelled", host(cancelled), "/", "", 404, "cancelled"},
		{"failed", host(failed), "/", "", 404, "failed"},
	}
	for _, tt := range pages {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, request{method: "GET", path: tt.path, host: tt.host, token: tt.token})
			if res.status != tt.status {
				t.Errorf("status %d, want %d", res.status, tt.status)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want an HTML page", ct)
			}
			body := string(res.body)
			if !strings.Contains(body, "<html") || !strings.Contains(body, tt.text) {
				t.Errorf("page lacks %q: %s", tt.text, body)
			}
			if json.Valid(res.body) || strings.Contains(body, `"code"`) || strings.Contains(body, `"id"`) {
				t.Errorf("a deployment host answered like the API: %s", body)
			}
			if tt.status == 503 && res.header.Get("Refresh") == "" {
				t.Error("building page without a Refresh header")
			}
		})
	}

	api := []struct {
		name, host, path string
		status           int
	}{
		{"loopback address", "127.0.0.1", "/healthz", 200},
		{"loopback address with port", "127.0.0.1:" + h.Port, "/v1/projects", 200},
		{"bare base domain", "localhost", "/v1/projects", 200},
		{"bare base domain with port", "localhost:" + h.Port, "/readyz", 200},
		{"other domain", "berth.example.com", "/v1/projects", 200},
		{"loopback, unknown route", "127.0.0.1", "/nope", 404},
	}
	for _, tt := range api {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(t, request{method: "GET", path: tt.path, host: tt.host, token: adminToken})
			if res.status != tt.status {
				t.Errorf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !json.Valid(res.body) {
				t.Errorf("Content-Type %q body %s, want the API's JSON", ct, res.body)
			}
		})
	}
}

// TestServeReadyDeployment: a deployment made ready through the event
// stream is served on its preview host and, being the production branch's,
// on its project's host.
func TestServeReadyDeployment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "site")
	d := h.createDeployment(t, adminToken, p.ID)

	const page = "<!doctype html><h1>hello from berth</h1>"
	prefix := "deployments/" + d.ID + "/"
	sum := sha256.Sum256([]byte(page))
	if err := h.Artifacts.Put(t.Context(), prefix+model.FilesDir+"index.html", strings.NewReader(page), int64(len(page)), "text/html"); err != nil {
		t.Fatal(err)
	}
	m := &artifacts.Manifest{OutputType: "static", Files: map[string]artifacts.ManifestFile{
		"index.html": {Size: int64(len(page)), SHA256: hex.EncodeToString(sum[:])},
	}}
	if err := artifacts.PutManifest(t.Context(), h.Artifacts, prefix, m); err != nil {
		t.Fatal(err)
	}

	stream := h.openStream(t, adminToken, d.ID, nil, 20*time.Second)
	uploading := stateEvent(d.ID, model.StateUploading)
	uploading.OutputType = "static"
	readyEv := stateEvent(d.ID, model.StateReady)
	readyEv.ArtifactKey = prefix
	h.publish(t, stateEvent(d.ID, model.StateBuilding), logEvent(d.ID, "built"), uploading, readyEv)
	evs := readUntilDone(t, stream)
	if last := evs[len(evs)-1]; !strings.Contains(last.data, `"state":"ready"`) {
		t.Fatalf("done with %s, want ready", last.data)
	}

	// The promotion of a ready production-branch build happens just after
	// viewers hear "ready"; wait for it (see the report on this ordering).
	var got projectOut
	deadline := time.Now().Add(time.Minute)
	for got.ProductionID == "" && time.Now().Before(deadline) {
		h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, adminToken, nil, &got)
		if got.ProductionID == "" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got.ProductionID != d.ID {
		t.Errorf("production deployment %q, want %q (a ready build of the production branch)", got.ProductionID, d.ID)
	}

	for _, host := range []string{d.ID[:8] + "-preview.localhost:" + h.Port, p.Slug + ".localhost"} {
		res := h.do(t, request{method: "GET", path: "/", host: host})
		if res.status != http.StatusOK || string(res.body) != page {
			t.Errorf("%s: status %d body %q, want the deployed page", host, res.status, res.body)
		}
		res = h.do(t, request{method: "GET", path: "/missing", host: host})
		if res.status != http.StatusNotFound || !strings.Contains(string(res.body), "Page not found") {
			t.Errorf("%s/missing: status %d body %q", host, res.status, res.body)
		}
	}
	var out deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &out)
	if out.State != "ready" {
		t.Errorf("state %q", out.State)
	}
}
