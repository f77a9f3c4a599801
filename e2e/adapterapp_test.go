package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The cache headers berth sends for the files it serves: a content-hashed
// asset, and any other file.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "public, max-age=0, must-revalidate"
)

// frameworkApp is a framework app written into a new git repository,
// deployed once as a new project with a runtime variable.
type frameworkApp struct {
	t    *testing.T
	b    *berthProc
	d    deployment
	log  string
	host string // the deployment's preview host
}

// deployFrameworkApp writes files into a new repository, creates a project
// named name with the runtime variable BERTH_E2E_RUNTIME, deploys it once
// and waits until the deployment is ready with the wanted output type.
func deployFrameworkApp(t *testing.T, name string, files map[string]string, outputType string) *frameworkApp {
	t.Helper()
	dir := t.TempDir()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, name, true)

	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": name, "git_url": dir}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "BERTH_E2E_RUNTIME", "value": "from-berth-runtime", "target": "runtime"}, nil); code != http.StatusOK {
		t.Fatalf("set env: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	d = b.waitState(d.ID, 15*time.Minute, terminal)
	log := plainLog(t, b, d.ID)
	if d.State != "ready" || d.OutputType != outputType {
		t.Fatalf("deployment: %+v, want ready %s\nlog:\n%s", d, outputType, log)
	}
	a := &frameworkApp{t: t, b: b, d: d, log: log, host: d.PreviewHost + ".localhost"}
	if outputType != "static" {
		b.waitServing(a.host, 10*time.Minute)
	}
	return a
}

// logHas fails the test for each line the build log lacks.
func (a *frameworkApp) logHas(lines ...string) {
	a.t.Helper()
	for _, want := range lines {
		if !strings.Contains(a.log, want) {
			a.t.Errorf("build log lacks %q:\n%s", want, a.log)
		}
	}
}

// page GETs a page and returns its HTML, failing unless it is a 200
// text/html answer that holds want.
func (a *frameworkApp) page(path, want string) string {
	a.t.Helper()
	res, body := a.b.getHost(a.host, path)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), want) {
		a.t.Fatalf("GET %s: %d %q, want a page with %q:\n%s", path, res.StatusCode, res.Header.Get("Content-Type"), want, body)
	}
	return string(body)
}

// asset checks one file berth serves: its status, content type, cache
// header and (unless want is empty) its body.
func (a *frameworkApp) asset(path, contentType, cache, want string) {
	a.t.Helper()
	res, body := a.b.getHost(a.host, path)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), contentType) ||
		res.Header.Get("Cache-Control") != cache || len(body) == 0 || want != "" && string(body) != want {
		a.t.Errorf("GET %s: %d %q %q %q, want %s, Cache-Control %q, body %q", path, res.StatusCode,
			res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), body, contentType, cache, want)
	}
}

// stylesheet finds the content-hashed stylesheet a page links to under dir
// (SvelteKit links it relative to the page, as ./_app/...)
// and checks that berth serves it as an immutable text/css file.
func (a *frameworkApp) stylesheet(html, dir string) {
	a.t.Helper()
	m := regexp.MustCompile(`href="\.?(/` + regexp.QuoteMeta(dir) + `[^"]+\.css)"`).FindStringSubmatch(html)
	if m == nil {
		a.t.Fatalf("the page links no stylesheet under /%s:\n%s", dir, html)
	}
	a.asset(m[1], "text/css", cacheImmutable, "")
}

// serverChecks are the checks of a server deployment's own routes, which
// the test apps all have: /now answers anew per request, /env shows the
// runtime variable, POST /echo answers its body, /pruned shows no dev
// dependency left in the server bundle, and /files lists what the bundle
// holds: files, the names in the server's folder.
func (a *frameworkApp) serverChecks(files ...string) {
	a.t.Helper()
	t, b := a.t, a.b
	var one, two struct{ Hits, Now int64 }
	for _, v := range []any{&one, &two} {
		res, body := b.getHost(a.host, "/now")
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
			t.Fatalf("GET /now: %d %s", res.StatusCode, body)
		}
	}
	if two.Hits != one.Hits+1 {
		t.Errorf("/now answered %+v then %+v: want a new answer per request", one, two)
	}
	if res, body := b.getHost(a.host, "/env"); res.StatusCode != http.StatusOK || string(body) != `{"value":"from-berth-runtime"}` {
		t.Errorf("GET /env: %d %s", res.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, b.url("/echo"), strings.NewReader(`{"say":"hello berth"}`))
	req.Host = a.host
	req.Header.Set("Content-Type", "application/json")
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != `echo: {"say":"hello berth"}` {
		t.Errorf("POST /echo: %d %q", res.StatusCode, body)
	}
	if res, body := b.getHost(a.host, "/pruned"); res.StatusCode != http.StatusOK || string(body) != `{"devDependency":false}` {
		t.Errorf("GET /pruned: %d %s: the server bundle still holds dev dependencies", res.StatusCode, body)
	}
	want, _ := json.Marshal(files)
	if res, body := b.getHost(a.host, "/files"); res.StatusCode != http.StatusOK || string(body) != string(want) {
		t.Errorf("GET /files: %d %s, want the server bundle to hold %s", res.StatusCode, body, want)
	}
}
