package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostileSource: B, a stranger, cannot make berth fetch from the host's
// disk (paths, file:// URLs, by project or by deployment) nor from the
// host's network (an https:// URL on loopback: the build fails with a
// sentence and the server there sees no connection). A, the administrator,
// still builds from a local repository, and A's project and deployment are
// unchanged afterwards.
func TestHostileSource(t *testing.T) {
	tn := newTenants(t)
	b := tn.b

	// A's site, from a local repository.
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("<h1>A's site</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "A's site", true)
	var ap struct {
		ID     string `json:"id"`
		GitURL string `json:"git_url"`
	}
	if st, body := b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "a-site", "git_url": repo}, &ap); st != http.StatusCreated {
		t.Fatalf("A's project from a local repository: %d %s", st, body)
	}
	var ad deployment
	if st, body := b.as(tn.A, "POST", "/v1/projects/"+ap.ID+"/deployments", nil, &ad); st != http.StatusAccepted {
		t.Fatalf("A's deployment: %d %s", st, body)
	}
	ad = b.waitState(ad.ID, 5*time.Minute, terminal)
	if ad.State != "ready" {
		t.Fatalf("A's deployment from a local repository: %+v, want ready", ad)
	}

	// B may not point anything at the host's disk.
	for _, u := range []string{"/etc", "/root/x", "file:///etc", repo, "file://" + repo} {
		st, body := b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "mine", "git_url": u}, nil)
		if st != http.StatusBadRequest || !strings.Contains(body, "for the administrator") || !strings.Contains(body, `"code":"invalid"`) {
			t.Errorf("B's project from %s: %d %s, want 400 with the reason", u, st, body)
		}
	}

	// A loopback TLS server that counts the connections it is offered.
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	loopback := srv.URL + "/owner/repo.git" // https://127.0.0.1:PORT/...

	var bp struct {
		ID string `json:"id"`
	}
	if st, body := b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "mine", "git_url": loopback}, &bp); st != http.StatusCreated {
		t.Fatalf("B's https project: %d %s", st, body)
	}
	for _, u := range []string{"/etc", "file:///etc", "http://127.0.0.1:1/x.git"} {
		if st, body := b.as(tn.B, "PATCH", "/v1/projects/"+bp.ID, map[string]any{"git_url": u}, nil); st != http.StatusBadRequest {
			t.Errorf("B's project moved to %s: %d %s, want 400", u, st, body)
		}
		if st, body := b.as(tn.B, "POST", "/v1/projects/"+bp.ID+"/deployments", map[string]any{"git_url": u}, nil); st != http.StatusBadRequest {
			t.Errorf("B's deployment from %s: %d %s, want 400", u, st, body)
		}
	}
	var bd deployment
	if st, body := b.as(tn.B, "POST", "/v1/projects/"+bp.ID+"/deployments", nil, &bd); st != http.StatusAccepted {
		t.Fatalf("B's deployment: %d %s", st, body)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for !terminal(bd) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		b.as(tn.B, "GET", "/v1/deployments/"+bd.ID, nil, &bd)
	}
	want := "git_url resolves to 127.0.0.1, a loopback address; berth does not fetch from private networks"
	if bd.State != "error" || bd.Error != want {
		t.Errorf("B's deployment from loopback: %s %q, want error %q", bd.State, bd.Error, want)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the loopback server was offered %d connections by B's build", n)
	}

	// A's things are as they were.
	var after struct {
		GitURL string `json:"git_url"`
	}
	if st, _ := b.as(tn.A, "GET", "/v1/projects/"+ap.ID, nil, &after); st != http.StatusOK || after.GitURL != repo {
		t.Errorf("A's project after B's attempts: %d %+v", st, after)
	}
	if res, body := b.getHost(strings.TrimSuffix(strings.TrimPrefix(ad.URL, "http://"), "/"), "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "A's site") {
		t.Errorf("A's preview after B's attempts: %d %.200s", res.StatusCode, body)
	}
}
