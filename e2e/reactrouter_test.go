package e2e

import (
	"net/http"
	"os"
	"regexp"
	"testing"
)

// reactRouterApp is a small React Router v7 app in framework mode: a page
// whose loader renders a new value per request, resource routes for a
// per-request answer, a runtime variable, a POST echo and whether a dev
// dependency (vite) survived the production prune, and a public stylesheet.
var reactRouterApp = map[string]string{
	"package.json": `{
  "name": "berth-react-router-app",
  "private": true,
  "type": "module",
  "scripts": {
    "build": "react-router build",
    "start": "react-router-serve ./build/server/index.js"
  },
  "dependencies": {
    "@react-router/node": "7.18.7",
    "@react-router/serve": "7.18.7",
    "isbot": "5.2.4",
    "react": "19.2.3",
    "react-dom": "19.2.3",
    "react-router": "7.18.7"
  },
  "devDependencies": {
    "@react-router/dev": "7.18.7",
    "vite": "6.4.6"
  }
}
`,
	"react-router.config.js": "export default { ssr: true };\n",
	"vite.config.js": `import { reactRouter } from "@react-router/dev/vite";
import { defineConfig } from "vite";

export default defineConfig({ plugins: [reactRouter()] });
`,
	"app/root.jsx": `import { Links, Meta, Outlet, Scripts } from "react-router";

export function Layout({ children }) {
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <Meta />
        <Links />
      </head>
      <body>
        {children}
        <Scripts />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}
`,
	"app/routes.js": `import { index, route } from "@react-router/dev/routes";

export default [
  index("routes/home.jsx"),
  route("now", "routes/now.js"),
  route("env", "routes/env.js"),
  route("echo", "routes/echo.js"),
  route("pruned", "routes/pruned.js"),
];
`,
	"app/routes/home.jsx": `import { useLoaderData } from "react-router";

export function loader() {
  return { at: Date.now() + "-" + Math.random() };
}

export default function Home() {
  const { at } = useLoaderData();
  return <h1>React Router on berth, rendered at {at}</h1>;
}
`,
	"app/routes/now.js": `let hits = 0;
export function loader() {
  return Response.json({ hits: ++hits, now: Date.now() });
}
`,
	"app/routes/env.js": `export function loader() {
  return Response.json({ value: process.env.BERTH_E2E_RUNTIME || null });
}
`,
	"app/routes/echo.js": `export async function action({ request }) {
  return new Response("echo: " + (await request.text()), { headers: { "Content-Type": "text/plain" } });
}
`,
	"app/routes/pruned.js": `import { createRequire } from "node:module";

export function loader() {
  let dev = true;
  try { createRequire(import.meta.url).resolve("vite"); } catch { dev = false; }
  return Response.json({ devDependency: dev });
}
`,
	"public/style.css": "body { color: teal; }\n",
	".gitignore":       "node_modules\nbuild\n.react-router\n",
}

// TestDeployReactRouterApp deploys a React Router v7 app (framework mode)
// from git with no settings: berth detects it from @react-router/dev,
// builds it with a production prune, runs its start script
// (react-router-serve) and serves build/client itself, never build/server.
func TestDeployReactRouterApp(t *testing.T) {
	requireEnv(t)
	dir := t.TempDir()
	writeAppFiles(t, dir, reactRouterApp)
	commitAll(t, dir, "A React Router app", true)

	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	d, log := waitApp(t, b, deployApp(t, b, "router app", dir).ID)
	if d.State != "ready" || d.OutputType != "node-server" {
		t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
	}
	wantLog(t, log,
		"Detected React Router (framework mode): will run `npm start` (start script `react-router-serve ./build/server/index.js`) with PORT when the build makes build/server/index.js, with berth serving build/client, after dropping dev dependencies",
		"Prune: npm prune --omit=dev",
		"The build made build/server/index.js: running it as a server with `npm start`; berth serves build/client itself.",
		"Output: /workspace (node-server)")
	host := d.PreviewHost + ".localhost"
	checkServerApp(t, b, host, serverApp{
		heading: "React Router on berth, rendered at ",
		script:  regexp.MustCompile(`/assets/entry\.client-[A-Za-z0-9_-]+\.js`),
		now:     "/now", env: "/env", echo: "/echo",
	})
	if res, body := b.getHost(host, "/pruned"); res.StatusCode != http.StatusOK || string(body) != `{"devDependency":false}` {
		t.Errorf("GET /pruned: %d %s: the server bundle still holds dev dependencies", res.StatusCode, body)
	}
	// The server build is the server's, never a file served to the world.
	if res, body := b.getHost(host, "/server/index.js"); res.StatusCode == http.StatusOK && len(body) > 0 && regexp.MustCompile(`routes/now|entry\.server`).Match(body) {
		t.Errorf("GET /server/index.js served the server build")
	}
	if res, _ := b.getHost("router-app.localhost", "/now"); res.StatusCode != http.StatusOK {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}
}
