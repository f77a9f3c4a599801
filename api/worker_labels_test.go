package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

type labelsOut struct {
	WorkerLabels []string `json:"worker_labels"`
}

// TestProjectWorkerLabelsAPI: a project shows its worker labels as a list
// (empty when none); PATCH sets them normalised; a bad list is a 400 with
// a sentence and changes nothing; the project's owner alone may set them.
func TestProjectWorkerLabelsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	path := "/v1/projects/" + p.ID
	labels := func() []string {
		t.Helper()
		res := h.mustAPI(t, http.StatusOK, "GET", path, adminToken, nil, nil)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(res.body, &raw); err != nil {
			t.Fatal(err)
		}
		var out []string
		if err := json.Unmarshal(raw["worker_labels"], &out); err != nil || out == nil {
			t.Fatalf("worker_labels %s is not a list: %v", raw["worker_labels"], err)
		}
		return out
	}
	if got := labels(); len(got) != 0 {
		t.Errorf("new project's labels %q, want none", got)
	}

	var out labelsOut
	h.mustAPI(t, http.StatusOK, "PATCH", path, adminToken, map[string]any{"worker_labels": []string{"big", "ARM64", "big"}}, &out)
	want := []string{"arm64", "big"}
	if !slices.Equal(out.WorkerLabels, want) || !slices.Equal(labels(), want) {
		t.Errorf("patched labels: answered %q, stored %q, want %q", out.WorkerLabels, labels(), want)
	}

	for _, bad := range []any{[]string{"not a label"}, []string{"a", "b", "c", "d", "e"}, []string{"a,b"}, "arm64"} {
		res := h.api(t, "PATCH", path, adminToken, map[string]any{"worker_labels": bad, "name": "renamed"}, nil)
		wantError(t, res, http.StatusBadRequest, "invalid")
		if _, isList := bad.([]string); isList && !strings.Contains(res.String(), "worker label") {
			t.Errorf("refusal of %q does not name the worker labels: %s", bad, res)
		}
	}
	var got projectOut
	h.mustAPI(t, http.StatusOK, "GET", path, adminToken, nil, &got)
	if got.Name != "app" || !slices.Equal(labels(), want) {
		t.Errorf("a refused patch changed the project: name %q, labels %q", got.Name, labels())
	}

	_, key := h.newUser(t, "mallory")
	wantError(t, h.api(t, "PATCH", path, key, map[string]any{"worker_labels": []string{"x"}}, nil), http.StatusNotFound, "not_found")

	h.mustAPI(t, http.StatusOK, "PATCH", path, adminToken, map[string]any{"worker_labels": []string{}}, &out)
	if len(labels()) != 0 {
		t.Errorf("labels after clearing: %q", labels())
	}

	var created labelsOut
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/projects", adminToken, map[string]any{"name": "gpu",
		"git_url": "https://example.com/gpu.git", "worker_labels": []string{"gpu"}}, &created)
	if !slices.Equal(created.WorkerLabels, []string{"gpu"}) {
		t.Errorf("created with labels %q, want [gpu]", created.WorkerLabels)
	}
}

// TestDashboardWorkerLabels: the settings form shows and sets the worker
// labels; a bad one is shown as a sentence and nothing is saved.
func TestDashboardWorkerLabels(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	b := newBrowser(t, h)
	csrf := b.signIn()
	settings := func(labels string) page {
		return b.post("/projects/"+p.ID+"/settings", url.Values{"_csrf": {csrf}, "name": {"app"}, "production_branch": {"main"},
			"git_url": {p.GitURL}, "worker_labels": {labels}})
	}
	if page := b.mustGet("/projects/" + p.ID); !strings.Contains(page.body, `name="worker_labels" type="text" value=""`) {
		t.Error("the settings form has no empty worker labels field")
	}
	if res := settings("big,  ARM64 big"); res.status != http.StatusSeeOther {
		t.Fatalf("save labels: %d %.300s", res.status, res.body)
	}
	if page := b.mustGet("/projects/" + p.ID); !strings.Contains(page.body, `name="worker_labels" type="text" value="arm64, big"`) {
		t.Error("the settings form does not show the saved labels")
	}
	res := settings("arm64, -bad")
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "Worker label &#34;-bad&#34; must be") {
		t.Errorf("bad label: %d %s", res.status, res.body)
	}
	var out labelsOut
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects/"+p.ID, adminToken, nil, &out)
	if !slices.Equal(out.WorkerLabels, []string{"arm64", "big"}) {
		t.Errorf("labels after a refused form: %q", out.WorkerLabels)
	}
}
