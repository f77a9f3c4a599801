package e2e

import (
	"testing"
)

// Astro 5 is the last major that runs on Node 20 (Astro 6 wants Node 22).
const (
	astroVersion     = "5.18.2"
	astroNodeVersion = "9.5.5"
)

// astroPage is a page with a stylesheet that Astro writes to _astro/ under
// a content hash (inlineStylesheets: 'never' keeps it out of the HTML).
const astroPage = `---
const rendered = Date.now();
---
<html>
  <head><title>Astro on berth</title></head>
  <body>
    <h1>Astro on berth</h1>
    <p id="rendered">rendered at {rendered}</p>
  </body>
</html>
<style>
  h1 { color: rebeccapurple; font-family: system-ui, sans-serif; }
</style>
`

// TestDeployAstroStatic deploys an Astro site without an adapter: berth
// detects Astro, builds it and serves dist/ as files, the hashed stylesheet
// for a year and a public file revalidated.
func TestDeployAstroStatic(t *testing.T) {
	requireEnv(t)
	a := deployFrameworkApp(t, "astro static", map[string]string{
		"package.json": `{
  "name": "berth-astro-static",
  "private": true,
  "type": "module",
  "scripts": { "dev": "astro dev", "build": "astro build" },
  "dependencies": { "astro": "` + astroVersion + `" }
}
`,
		"astro.config.mjs": `import { defineConfig } from 'astro/config';
export default defineConfig({ build: { inlineStylesheets: 'never' } });
`,
		"src/pages/index.astro": astroPage,
		"public/robots.txt":     "User-agent: *\nAllow: /\n",
		".gitignore":            "node_modules\ndist\n.astro\n",
	}, "static")
	a.logHas("Detected Astro (static, no @astrojs/node): will serve dist/.", "Output: /workspace/dist (static)")

	html := a.page("/", "Astro on berth")
	a.stylesheet(html, "_astro/")
	a.asset("/robots.txt", "text/plain", cacheRevalidate, "User-agent: *\nAllow: /\n")
}

// TestDeployAstroNode deploys an Astro app built with @astrojs/node in
// standalone mode: berth runs dist/server/entry.mjs from a pruned bundle and
// serves dist/client itself (robots.txt carries berth's cache header, not
// the adapter's); pages and endpoints are rendered per request.
func TestDeployAstroNode(t *testing.T) {
	requireEnv(t)
	a := deployFrameworkApp(t, "astro node", map[string]string{
		"package.json": `{
  "name": "berth-astro-node",
  "private": true,
  "type": "module",
  "scripts": { "dev": "astro dev", "build": "astro build" },
  "dependencies": { "astro": "` + astroVersion + `", "@astrojs/node": "` + astroNodeVersion + `" },
  "devDependencies": { "is-number": "7.0.0" }
}
`,
		"astro.config.mjs": `import { defineConfig } from 'astro/config';
import node from '@astrojs/node';
export default defineConfig({
  output: 'server',
  adapter: node({ mode: 'standalone' }),
  build: { inlineStylesheets: 'never' },
});
`,
		"src/pages/index.astro": astroPage,
		"src/pages/now.js": `let hits = 0;
export const GET = () => Response.json({ hits: ++hits, now: Date.now() });
`,
		"src/pages/env.js": `export const GET = () => Response.json({ value: process.env.BERTH_E2E_RUNTIME ?? null });
`,
		"src/pages/echo.js": `export const POST = async ({ request }) =>
  new Response('echo: ' + (await request.text()), { headers: { 'content-type': 'text/plain' } });
`,
		"src/pages/pruned.js": `import { createRequire } from 'node:module';
export const GET = () => {
  let dev = true;
  try { createRequire(import.meta.url).resolve('is-number'); } catch { dev = false; }
  return Response.json({ devDependency: dev });
};
`,
		"src/pages/files.js": `import { readdirSync } from 'node:fs';
export const GET = () => Response.json(readdirSync('.').sort());
`,
		"public/robots.txt": "User-agent: *\nAllow: /\n",
		".gitignore":        "node_modules\ndist\n.astro\n",
	}, "node-server")
	a.logHas("Detected Astro (@astrojs/node): will run `node dist/server/entry.mjs` with PORT, dist/client/ served by berth, after dropping dev dependencies.",
		"Prune: npm prune --omit=dev")

	html := a.page("/", "Astro on berth")
	if again := a.page("/", "Astro on berth"); again == html {
		t.Errorf("GET / answered the same page twice: want it rendered per request:\n%s", html)
	}
	a.stylesheet(html, "_astro/")
	a.asset("/robots.txt", "text/plain", cacheRevalidate, "User-agent: *\nAllow: /\n")
	a.serverChecks("dist", "node_modules", "package.json")
	// A production branch deploy is promoted: the project host serves it too.
	if res, _ := a.b.getHost("astro-node.localhost", "/now"); res.StatusCode != 200 {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}
}
