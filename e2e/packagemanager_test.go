package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// corepackEnv lets corepack fetch pnpm and yarn in the test network: the
// registry's answers are re-signed there, and only the npm registry is
// reachable (yarn berry's own release host is not). Users set the same
// build variables for a mirror of their own.
var corepackEnv = map[string]string{
	"COREPACK_INTEGRITY_KEYS": "0",
	"COREPACK_NPM_REGISTRY":   "https://registry.npmjs.org",
}

// pnpmWorkspace is a pnpm workspace: a Vite app in apps/web that imports a
// workspace package, packages/ui. Its lock file is testdata's.
func pnpmWorkspace(t *testing.T, greeting string) map[string]string {
	lock, err := os.ReadFile(filepath.Join("testdata", "pnpm-workspace", "pnpm-lock.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"package.json":             `{ "name": "berth-pnpm-workspace", "private": true, "packageManager": "pnpm@9.15.9" }` + "\n",
		"pnpm-workspace.yaml":      "packages:\n  - apps/*\n  - packages/*\n",
		"pnpm-lock.yaml":           string(lock),
		".gitignore":               "node_modules\ndist\n",
		"packages/ui/package.json": `{ "name": "@berth-e2e/ui", "version": "1.0.0", "private": true, "type": "module", "main": "index.js" }` + "\n",
		"packages/ui/index.js":     "export const greeting = " + `"` + greeting + `"` + ";\n",
		"apps/web/package.json": `{
  "name": "@berth-e2e/web",
  "private": true,
  "type": "module",
  "scripts": { "build": "vite build" },
  "dependencies": { "@berth-e2e/ui": "workspace:*" },
  "devDependencies": { "vite": "6.4.6" }
}
`,
		"apps/web/index.html":  "<!doctype html><title>web</title><div id=app></div><script type=module src=/src/main.js></script>\n",
		"apps/web/src/main.js": "import { greeting } from '@berth-e2e/ui';\ndocument.getElementById('app').textContent = greeting;\n",
	}
}

// yarnBerryApp is a yarn 4 project that asks for Plug'n'Play; berth
// installs it into node_modules, which its build script needs.
func yarnBerryApp(t *testing.T) map[string]string {
	lock, err := os.ReadFile(filepath.Join("testdata", "yarn-berry", "yarn.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"package.json": `{
  "name": "berth-berry-app",
  "private": true,
  "packageManager": "yarn@4.5.3",
  "scripts": { "build": "node build.js" },
  "dependencies": { "is-number": "7.0.0" }
}
`,
		".yarnrc.yml": "nodeLinker: pnp\n",
		"yarn.lock":   string(lock),
		".gitignore":  "node_modules\ndist\n.yarn\n",
		"build.js": `const fs = require('fs');
const isNumber = require(require.resolve('is-number', { paths: [__dirname + '/node_modules'] }));
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/index.html', '<h1>berry ' + isNumber(7) + ' ' + fs.existsSync('node_modules/is-number') + '</h1>\n');
`,
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
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

// TestDeployPackageManagers deploys a pnpm workspace's app from its root
// directory (installed at the workspace root, built in apps/web, only its
// dist served), builds it again after a change to see the pnpm store come
// back from the build cache, deploys an npm workspace's Express server
// (bundled with the workspace's hoisted node_modules, started in its
// folder), and a yarn berry app installed into node_modules.
func TestDeployPackageManagers(t *testing.T) {
	requireEnv(t)
	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	newProject := func(name, dir, rootDir string) string {
		t.Helper()
		var p struct{ ID string }
		req := map[string]string{"name": name, "git_url": dir, "root_dir": rootDir}
		if code := b.api(http.MethodPost, "/v1/projects", req, &p); code != http.StatusCreated {
			t.Fatalf("create project %s: %d", name, code)
		}
		for k, v := range corepackEnv {
			if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": k, "value": v, "target": "build"}, nil); code != http.StatusOK {
				t.Fatalf("set env: %d", code)
			}
		}
		return p.ID
	}
	deploy := func(projectID string) (deployment, string) {
		t.Helper()
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+projectID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy: %d", code)
		}
		d = b.waitState(d.ID, 10*time.Minute, terminal)
		log := plainLog(t, b, d.ID)
		if d.State != "ready" || d.OutputType != "static" {
			t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
		}
		return d, log
	}
	script := regexp.MustCompile(`/assets/index-[A-Za-z0-9_-]+\.js`)
	// pageScript returns the JavaScript the page loads, checking its type
	// and cache header.
	pageScript := func(host string) string {
		t.Helper()
		res, page := b.getHost(host, "/")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d %s", res.StatusCode, page)
		}
		src := script.FindString(string(page))
		if src == "" {
			t.Fatalf("GET /: no Vite script in %s", page)
		}
		res, js := b.getHost(host, src)
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "javascript") ||
			!strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d %q %q", src, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		return string(js)
	}

	t.Run("pnpm workspace", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, pnpmWorkspace(t, "hello from the ui package"))
		commitAll(t, dir, "A pnpm workspace", true)
		id := newProject("pnpm workspace", dir, "apps/web")

		d, log := deploy(id)
		for _, want := range []string{
			"Workspace: installing at / (its lock file), building in /apps/web.",
			"Install: corepack pnpm install --frozen-lockfile",
			"Build: corepack pnpm run build",
			"apps/web/dist (static)",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("build log lacks %q:\n%s", want, log)
			}
		}
		host := d.PreviewHost + ".localhost"
		if js := pageScript(host); !strings.Contains(js, "hello from the ui package") {
			t.Errorf("the page's script lacks the ui package's text:\n%.2000s", js)
		}
		// Only the app's output is deployed, not the workspace.
		for _, p := range []string{"/pnpm-lock.yaml", "/apps/web/package.json", "/packages/ui/index.js"} {
			if res, body := b.getHost(host, p); res.StatusCode == http.StatusOK && !strings.Contains(string(body), "<div id=app>") {
				t.Errorf("GET %s: served the workspace's file", p)
			}
		}

		// A new tree with the same lock file: built again, from the cache.
		writeTree(t, dir, map[string]string{"packages/ui/index.js": `export const greeting = "changed in the ui package";` + "\n"})
		commitAll(t, dir, "A new greeting", false)
		d, log = deploy(id)
		restored := regexp.MustCompile(`Restored build cache \(([^)]*)\)`).FindStringSubmatch(log)
		if restored == nil || !strings.Contains(restored[1], "pnpm") || !strings.Contains(restored[1], "same lock file") {
			t.Errorf("the second build did not restore the pnpm store:\n%s", log)
		}
		if js := pageScript(d.PreviewHost + ".localhost"); !strings.Contains(js, "changed in the ui package") {
			t.Errorf("the second build's script lacks the new text:\n%.2000s", js)
		}
	})

	t.Run("npm workspace Node server", func(t *testing.T) {
		lock, err := os.ReadFile(filepath.Join("testdata", "npm-workspace", "package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{
			"package.json":              `{ "name": "berth-npm-workspace", "private": true, "workspaces": ["apps/*", "packages/*"] }` + "\n",
			"package-lock.json":         string(lock),
			".gitignore":                "node_modules\n",
			"packages/lib/package.json": `{ "name": "@berth-e2e/lib", "version": "1.0.0", "private": true, "main": "index.js" }` + "\n",
			"packages/lib/index.js":     "exports.greeting = 'hello from the lib package';\n",
			"apps/api/package.json": `{
  "name": "@berth-e2e/api",
  "version": "1.0.0",
  "private": true,
  "scripts": { "start": "node server.js" },
  "dependencies": { "@berth-e2e/lib": "1.0.0", "express": "4.21.2" },
  "devDependencies": { "is-number": "7.0.0" }
}
`,
			"apps/api/server.js": `const express = require('express');
const { greeting } = require('@berth-e2e/lib');
let hits = 0;
const app = express();
app.get('/now', (req, res) => res.json({ hits: ++hits, greeting, cwd: process.cwd() }));
app.get('/pruned', (req, res) => {
  let dev = true;
  try { require.resolve('is-number'); } catch { dev = false; }
  res.json({ devDependency: dev });
});
app.listen(Number(process.env.PORT), process.env.HOST);
`,
		})
		commitAll(t, dir, "An npm workspace with an Express server", true)
		var d deployment
		id := newProject("npm workspace", dir, "apps/api")
		if code := b.api(http.MethodPost, "/v1/projects/"+id+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy: %d", code)
		}
		d = b.waitState(d.ID, 10*time.Minute, terminal)
		log := plainLog(t, b, d.ID)
		if d.State != "ready" || d.OutputType != "node-server" {
			t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
		}
		for _, want := range []string{"Install: npm ci", "Workspace: the server bundle holds the workspace's root"} {
			if !strings.Contains(log, want) {
				t.Errorf("build log lacks %q:\n%s", want, log)
			}
		}
		host := d.PreviewHost + ".localhost"
		var one, two struct {
			Hits          int
			Greeting, Cwd string
		}
		for _, v := range []any{&one, &two} {
			res, body := b.getHost(host, "/now")
			if res.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
				t.Fatalf("GET /now: %d %s", res.StatusCode, body)
			}
		}
		if two.Hits != one.Hits+1 || one.Greeting != "hello from the lib package" || one.Cwd != "/app/apps/api" {
			t.Errorf("/now answered %+v then %+v: want a new answer per request, the lib's text, run in /app/apps/api", one, two)
		}
		if res, body := b.getHost(host, "/pruned"); res.StatusCode != http.StatusOK || string(body) != `{"devDependency":false}` {
			t.Errorf("GET /pruned: %d %s: the workspace's dev dependencies were not pruned", res.StatusCode, body)
		}
	})

	t.Run("yarn berry", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, yarnBerryApp(t))
		commitAll(t, dir, "A yarn berry app", true)
		d, log := deploy(newProject("yarn berry", dir, ""))
		if !strings.Contains(log, "Install: corepack yarn install --immutable") || !strings.Contains(log, "Build: corepack yarn run build") {
			t.Errorf("build log lacks yarn berry's commands:\n%s", log)
		}
		res, body := b.getHost(d.PreviewHost+".localhost", "/")
		if res.StatusCode != http.StatusOK || string(body) != "<h1>berry true true</h1>\n" {
			t.Errorf("GET /: %d %q; want the page built with node_modules", res.StatusCode, body)
		}
	})
}
