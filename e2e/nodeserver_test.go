package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// expressApp is a plain Express server: a route that answers differently
// per request, its own static files under public/ (which must not make
// berth take it for a static site), a runtime variable, a POST echo, and
// whether a dev dependency survived the production prune.
var expressApp = map[string]string{
	"server.js": `const express = require('express');
const app = express();
let hits = 0;
app.use(express.static('public', { maxAge: '1h' }));
app.get('/now', (req, res) => res.json({ hits: ++hits, now: Date.now() }));
app.get('/env', (req, res) => res.json({ value: process.env.BERTH_E2E_RUNTIME || null }));
app.post('/echo', express.text({ type: '*/*' }), (req, res) => res.type('text/plain').send('echo: ' + req.body));
app.get('/pruned', (req, res) => {
  let dev = true;
  try { require.resolve('is-number'); } catch { dev = false; }
  res.json({ devDependency: dev });
});
app.listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening on ' + process.env.PORT));
`,
	"public/style.css": "body { color: teal; }\n",
	".gitignore":       "node_modules\n",
}

// TestDeployExpressApp deploys a plain Express server from a git repository
// with no settings: berth detects it from its start script, builds it with
// a production prune, and runs it with npm start; the preview host serves a
// per-request route, a static file with its type and cache header, a
// runtime variable and a POST.
func TestDeployExpressApp(t *testing.T) {
	requireEnv(t)
	var express struct{ Version string }
	data, err := os.ReadFile(filepath.Join(fixture(t, "express"), "package.json"))
	if err != nil || json.Unmarshal(data, &express) != nil || express.Version == "" {
		t.Fatalf("read the express fixture's version: %v", err)
	}
	dir := t.TempDir()
	files := map[string]string{"package.json": `{
  "name": "berth-express-app",
  "private": true,
  "scripts": { "start": "node server.js" },
  "dependencies": { "express": "` + express.Version + `" },
  "devDependencies": { "is-number": "7.0.0" }
}
`}
	for name, body := range expressApp {
		files[name] = body
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, "An Express server", true)

	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "express app", "git_url": dir}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "BERTH_E2E_RUNTIME", "value": "from-berth-runtime", "target": "runtime"}, nil); code != http.StatusOK {
		t.Fatalf("set env: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	d = b.waitState(d.ID, 10*time.Minute, terminal)
	log := plainLog(t, b, d.ID)
	if d.State != "ready" || d.OutputType != "node-server" {
		t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
	}
	for _, want := range []string{
		"Detected a Node server (start script `node server.js`, depends on express): will run `npm start` with PORT",
		"Prune: npm prune --omit=dev",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	host := d.PreviewHost + ".localhost"

	var one, two struct{ Hits, Now int64 }
	for _, v := range []any{&one, &two} {
		res, body := b.getHost(host, "/now")
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
			t.Fatalf("GET /now: %d %s", res.StatusCode, body)
		}
	}
	if two.Hits != one.Hits+1 {
		t.Errorf("/now answered %+v then %+v: want a new answer per request", one, two)
	}

	res, css := b.getHost(host, "/style.css")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") ||
		res.Header.Get("Cache-Control") != "public, max-age=3600" || string(css) != expressApp["public/style.css"] {
		t.Errorf("GET /style.css: %d %q %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), css)
	}

	if res, body := b.getHost(host, "/env"); res.StatusCode != http.StatusOK || string(body) != `{"value":"from-berth-runtime"}` {
		t.Errorf("GET /env: %d %s", res.StatusCode, body)
	}

	req, _ := http.NewRequest(http.MethodPost, b.url("/echo"), strings.NewReader("hello berth"))
	req.Host = host
	req.Header.Set("Content-Type", "text/plain")
	res, err = b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "echo: hello berth" {
		t.Errorf("POST /echo: %d %q", res.StatusCode, body)
	}

	if res, body := b.getHost(host, "/pruned"); res.StatusCode != http.StatusOK || string(body) != `{"devDependency":false}` {
		t.Errorf("GET /pruned: %d %s: the server bundle still holds dev dependencies", res.StatusCode, body)
	}
	// A production branch deploy is promoted: the project host serves it too.
	if res, _ := b.getHost("express-app.localhost", "/now"); res.StatusCode != http.StatusOK {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}
}
