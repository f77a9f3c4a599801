package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// SvelteKit 2 with Vite 7 and vite-plugin-svelte 6 run on Node 20
// (SvelteKit 3 wants Node 22).
func svelteKitPackage(name, adapter, adapterVersion string) string {
	return `{
  "name": "` + name + `",
  "private": true,
  "type": "module",
  "scripts": { "dev": "vite dev", "build": "vite build" },
  "devDependencies": {
    "@sveltejs/kit": "2.70.4",
    "@sveltejs/vite-plugin-svelte": "6.2.4",
    "` + adapter + `": "` + adapterVersion + `",
    "is-number": "7.0.0",
    "svelte": "5.57.3",
    "vite": "7.3.8"
  }
}
`
}

// svelteKitFiles are the files both SvelteKit apps share: a page whose
// imported stylesheet lands in _app/immutable/, and a static file.
func svelteKitFiles(adapter string) map[string]string {
	return map[string]string{
		"svelte.config.js": `import adapter from '` + adapter + `';
export default { kit: { adapter: adapter() } };
`,
		"vite.config.js": `import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';
export default defineConfig({ plugins: [sveltekit()] });
`,
		"src/app.html": `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    %sveltekit.head%
  </head>
  <body>
    <div>%sveltekit.body%</div>
  </body>
</html>
`,
		"src/routes/page.css": "h1 { color: darkorange; font-family: system-ui, sans-serif; }\n",
		"src/routes/+page.svelte": `<script>
  import './page.css';
  let { data } = $props();
</script>

<h1>SvelteKit on berth</h1>
<p>rendered at {data.rendered}</p>
`,
		"src/routes/+page.js": `export const load = () => ({ rendered: Date.now() });
`,
		"static/robots.txt": "User-agent: *\nAllow: /\n",
		".gitignore":        "node_modules\nbuild\n.svelte-kit\n",
	}
}

// TestDeploySvelteKitStatic deploys a prerendered SvelteKit app built with
// adapter-static: berth serves build/ as files, the immutable stylesheet
// for a year and a static file revalidated.
func TestDeploySvelteKitStatic(t *testing.T) {
	requireEnv(t)
	files := svelteKitFiles("@sveltejs/adapter-static")
	files["package.json"] = svelteKitPackage("berth-sveltekit-static", "@sveltejs/adapter-static", "3.0.11")
	files["src/routes/+layout.js"] = "export const prerender = true;\n"
	a := deployFrameworkApp(t, "sveltekit static", files, "static")
	a.logHas("Detected SvelteKit (adapter-static): will serve build/.", "Output: /workspace/build (static)")

	html := a.page("/", "SvelteKit on berth")
	a.stylesheet(html, "_app/immutable/")
	a.asset("/robots.txt", "text/plain", cacheRevalidate, "User-agent: *\nAllow: /\n")
}

// TestDeploySvelteKitNode deploys a SvelteKit app built with adapter-node:
// berth runs `node build` from a pruned bundle and serves build/client
// itself (robots.txt carries berth's cache header); the page and the
// endpoints answer per request.
func TestDeploySvelteKitNode(t *testing.T) {
	requireEnv(t)
	files := svelteKitFiles("@sveltejs/adapter-node")
	files["package.json"] = svelteKitPackage("berth-sveltekit-node", "@sveltejs/adapter-node", "5.5.7")
	files["src/routes/now/+server.js"] = `import { json } from '@sveltejs/kit';
let hits = 0;
export const GET = () => json({ hits: ++hits, now: Date.now() });
`
	files["src/routes/env/+server.js"] = `import { json } from '@sveltejs/kit';
import { env } from '$env/dynamic/private';
export const GET = () => json({ value: env.BERTH_E2E_RUNTIME ?? null });
`
	files["src/routes/echo/+server.js"] = `export const POST = async ({ request }) =>
  new Response('echo: ' + (await request.text()), { headers: { 'content-type': 'text/plain' } });
`
	files["src/routes/pruned/+server.js"] = `import { json } from '@sveltejs/kit';
import { createRequire } from 'node:module';
export const GET = () => {
  let dev = true;
  try { createRequire(import.meta.url).resolve('is-number'); } catch { dev = false; }
  return json({ devDependency: dev });
};
`
	files["src/routes/files/+server.js"] = `import { json } from '@sveltejs/kit';
import { readdirSync } from 'node:fs';
export const GET = () => json(readdirSync('.').sort());
`
	// A form action: SvelteKit refuses a form post whose Origin is not the
	// request's own, which adapter-node learns from berth's proxy headers.
	files["src/routes/form/+page.server.js"] = `export const actions = {
  default: async ({ request, getClientAddress }) => {
    const data = await request.formData();
    return { said: data.get('say'), from: getClientAddress() };
  },
};
`
	files["src/routes/form/+page.svelte"] = `<script>
  let { form } = $props();
</script>

<form method="POST"><input name="say" /></form>
{#if form}<p>said {form.said} from {form.from}</p>{/if}
`
	a := deployFrameworkApp(t, "sveltekit node", files, "node-server")
	a.logHas("Detected SvelteKit (adapter-node): will run `node build` with PORT, build/client/ served by berth, after dropping dev dependencies.",
		"Prune: npm prune --omit=dev")

	html := a.page("/", "SvelteKit on berth")
	if again := a.page("/", "SvelteKit on berth"); again == html {
		t.Errorf("GET / answered the same page twice: want it rendered per request:\n%s", html)
	}
	a.stylesheet(html, "_app/immutable/")
	a.asset("/robots.txt", "text/plain", cacheRevalidate, "User-agent: *\nAllow: /\n")
	a.serverChecks("build", "node_modules", "package.json")

	req, _ := http.NewRequest(http.MethodPost, a.b.url("/form"), strings.NewReader("say=hello+form"))
	req.Host = a.host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+a.host)
	req.Header.Set("Accept", "text/html") // as a browser does; else the action answers JSON
	res, err := a.b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "said hello form from 127.0.0.1") {
		t.Errorf("POST /form: %d, want the action's answer with the visitor's address:\n%s", res.StatusCode, body)
	}
	if res, _ := a.b.getHost("sveltekit-node.localhost", "/now"); res.StatusCode != 200 {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}
}
