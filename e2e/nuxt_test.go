package e2e

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// nuxtApp is a small Nuxt 4 app (the last major that runs on Node 20): a
// page rendered per request, Nitro routes for a per-request answer, a
// runtime variable and a POST echo, and a public stylesheet. unstorage is
// held at 1.17.5: 1.17.6 refuses the key "/" that Nuxt 4.3's prerenderer
// stores the home page under, which fails `nuxt generate`.
func nuxtApp(build string) map[string]string {
	return map[string]string{
		"package.json": `{
  "name": "berth-nuxt-app",
  "private": true,
  "type": "module",
  "scripts": { "build": "` + build + `" },
  "dependencies": { "nuxt": "4.3.1", "vue": "3.5.27", "vue-router": "4.6.4" },
  "overrides": { "unstorage": "1.17.5" }
}
`,
		"nuxt.config.ts": `export default defineNuxtConfig({
  compatibilityDate: '2025-07-15',
  devtools: { enabled: false },
  telemetry: false,
});
`,
		"app/app.vue": `<script setup>
const at = useState('at', () => Date.now() + '-' + Math.random());
</script>

<template>
  <h1>Nuxt on berth, rendered at {{ at }}</h1>
</template>
`,
		"server/api/now.get.js": `let hits = 0;
export default defineEventHandler(() => ({ hits: ++hits, now: Date.now() }));
`,
		"server/api/env.get.js": `export default defineEventHandler(() => ({ value: process.env.BERTH_E2E_RUNTIME || null }));
`,
		"server/api/echo.post.js": `export default defineEventHandler(async (event) => {
  setHeader(event, 'Content-Type', 'text/plain');
  return 'echo: ' + (await readRawBody(event));
});
`,
		"public/style.css": "body { color: teal; }\n",
		".gitignore":       "node_modules\n.nuxt\n.output\n",
	}
}

// TestDeployNuxtApp deploys the same Nuxt app twice from git with no
// settings: built with `nuxt build` (berth runs .output/server/index.mjs
// and serves .output/public itself) and with `nuxt generate` (berth serves
// .output/public as a static site). Both build at once, each once.
func TestDeployNuxtApp(t *testing.T) {
	requireEnv(t)
	server, static := t.TempDir(), t.TempDir()
	writeAppFiles(t, server, nuxtApp("nuxt build"))
	commitAll(t, server, "A Nuxt app", true)
	writeAppFiles(t, static, nuxtApp("nuxt generate"))
	commitAll(t, static, "A generated Nuxt site", true)

	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	serverDep := deployApp(t, b, "nuxt app", server)
	staticDep := deployApp(t, b, "nuxt site", static)

	t.Run("server", func(t *testing.T) {
		d, log := waitApp(t, b, serverDep.ID)
		if d.State != "ready" || d.OutputType != "node-server" {
			t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
		}
		wantLog(t, log,
			"Detected Nuxt: will run `node .output/server/index.mjs` with PORT when the build makes a Node server (`nuxt build`), with berth serving .output/public",
			"The build made .output/server/index.mjs: running it as a server with `node server/index.mjs`; berth serves .output/public itself.",
			"Output: /workspace/.output (node-server)")
		if strings.Contains(log, "Prune:") {
			t.Errorf("a Nuxt server was pruned: its .output needs no node_modules:\n%s", log)
		}
		host := d.PreviewHost + ".localhost"
		checkServerApp(t, b, host, serverApp{
			heading: "Nuxt on berth, rendered at ",
			script:  regexp.MustCompile(`/_nuxt/[A-Za-z0-9_-]+\.js`),
			now:     "/api/now", env: "/api/env", echo: "/api/echo",
		})
		if res, _ := b.getHost("nuxt-app.localhost", "/api/now"); res.StatusCode != http.StatusOK {
			t.Errorf("project host: %d, want 200", res.StatusCode)
		}
	})

	t.Run("generate", func(t *testing.T) {
		d, log := waitApp(t, b, staticDep.ID)
		if d.State != "ready" || d.OutputType != "static" {
			t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
		}
		wantLog(t, log,
			"Detected Nuxt:",
			"The build made no .output/server/index.mjs, only .output/public: serving it as a static site.",
			"Output: /workspace/.output/public (static)")
		host := d.PreviewHost + ".localhost"
		res, page := b.getHost(host, "/")
		if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "Nuxt on berth, rendered at ") ||
			res.Header.Get("Cache-Control") != "public, max-age=0, must-revalidate" {
			t.Fatalf("GET /: %d %q %s", res.StatusCode, res.Header.Get("Cache-Control"), page)
		}
		// Generated once at build time: the same page on every request.
		if _, again := b.getHost(host, "/"); string(again) != string(page) {
			t.Errorf("GET / of a generated site changed between requests")
		}
		script := regexp.MustCompile(`/_nuxt/[A-Za-z0-9_-]+\.js`).FindString(string(page))
		if res, _ := b.getHost(host, script); script == "" || res.StatusCode != http.StatusOK ||
			res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %q: %d %q %q", script, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		if res, css := b.getHost(host, "/style.css"); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/css; charset=utf-8" || string(css) != "body { color: teal; }\n" {
			t.Errorf("GET /style.css: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), css)
		}
		// No server runs: a Nitro route is not there.
		if res, body := b.getHost(host, "/api/env"); strings.Contains(string(body), "from-berth-runtime") {
			t.Errorf("GET /api/env of a generated site: %d %s", res.StatusCode, body)
		}
	})
}
