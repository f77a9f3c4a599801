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

// writeAppFiles writes an app's files (slash-separated names) into dir.
func writeAppFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// deployApp creates a project of the repository at dir with a runtime
// variable set and deploys it with no other settings; waitApp waits for the end of its build.
func deployApp(t *testing.T, b *berthProc, name, dir string) deployment {
	t.Helper()
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": name, "git_url": dir}, &p); code != http.StatusCreated {
		t.Fatalf("create project %s: %d", name, code)
	}
	if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "BERTH_E2E_RUNTIME", "value": "from-berth-runtime", "target": "runtime"}, nil); code != http.StatusOK {
		t.Fatalf("set env: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy %s: %d", name, code)
	}
	return d
}

// waitApp waits for a deployment's build to end and returns it with its log.
func waitApp(t *testing.T, b *berthProc, id string) (deployment, string) {
	t.Helper()
	d := b.waitState(id, 15*time.Minute, terminal)
	if d.State == "ready" && d.OutputType != "static" {
		b.waitServing(d.PreviewHost+".localhost", 10*time.Minute)
	}
	return d, plainLog(t, b, id)
}

// wantLog reports every line the build log lacks.
func wantLog(t *testing.T, log string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("build log lacks %q:\n%s", w, log)
		}
	}
}

// serverApp names the routes of a server-rendered test app.
type serverApp struct {
	heading string         // in the HTML of /
	script  *regexp.Regexp // a hashed script the HTML of / loads, served by berth
	now     string         // JSON {hits, now}, new per request
	env     string         // JSON {value} of BERTH_E2E_RUNTIME
	echo    string         // POST: "echo: " and the body
}

// checkServerApp checks a server deployment through its host: a page
// rendered per request, a hashed script and a public stylesheet served by
// berth with their types and cache headers, a per-request route, a runtime
// variable and a POST.
func checkServerApp(t *testing.T, b *berthProc, host string, app serverApp) {
	t.Helper()
	var pages [2]string
	for i := range pages {
		res, body := b.getHost(host, "/")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), app.heading) {
			t.Fatalf("GET /: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		pages[i] = string(body)
	}
	if pages[0] == pages[1] {
		t.Errorf("GET / answered the same page twice, want one rendered per request:\n%s", pages[0])
	}

	script := app.script.FindString(pages[0])
	if script == "" {
		t.Errorf("GET /: no script matching %s in\n%s", app.script, pages[0])
	} else if res, body := b.getHost(host, script); res.StatusCode != http.StatusOK || len(body) == 0 ||
		res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		res.Header.Get("Etag") == "" {
		t.Errorf("GET %s: %d %q %q etag %q", script, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), res.Header.Get("Etag"))
	}
	res, css := b.getHost(host, "/style.css")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "public, max-age=0, must-revalidate" || string(css) != "body { color: teal; }\n" {
		t.Errorf("GET /style.css: %d %q %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), css)
	}

	var one, two struct{ Hits, Now int64 }
	for _, v := range []any{&one, &two} {
		res, body := b.getHost(host, app.now)
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
			t.Fatalf("GET %s: %d %s", app.now, res.StatusCode, body)
		}
	}
	if two.Hits != one.Hits+1 {
		t.Errorf("%s answered %+v then %+v: want a new answer per request", app.now, one, two)
	}

	if res, body := b.getHost(host, app.env); res.StatusCode != http.StatusOK || string(body) != `{"value":"from-berth-runtime"}` {
		t.Errorf("GET %s: %d %s", app.env, res.StatusCode, body)
	}

	req, _ := http.NewRequest(http.MethodPost, b.url(app.echo), strings.NewReader("hello berth"))
	req.Host = host
	req.Header.Set("Content-Type", "text/plain")
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || string(body) != "echo: hello berth" {
		t.Errorf("POST %s: %d %q %q", app.echo, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}
