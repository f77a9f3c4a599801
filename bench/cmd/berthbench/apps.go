package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/internal/testapp"
)

// The small server apps of berth's end-to-end tests (e2e/nodeserver_test.go,
// e2e/sveltekit_test.go, e2e/dockerfile_test.go), cut to what the
// benchmarks request: each answers GET coldPath (rendered per request).

// expressApp writes a plain Express server with a start script, pinned to
// the express version of the fixtures.
func expressApp(dir, fixtures string) error {
	var express struct{ Version string }
	data, err := os.ReadFile(filepath.Join(fixtures, "express", "package.json"))
	if err != nil {
		return fmt.Errorf("read the express fixture: %w", err)
	}
	if err := json.Unmarshal(data, &express); err != nil || express.Version == "" {
		return fmt.Errorf("read the express fixture's version: %v", err)
	}
	return testapp.WriteFiles(dir, map[string][]byte{
		"package.json": []byte(`{
  "name": "berthbench-express",
  "private": true,
  "scripts": { "start": "node server.js" },
  "dependencies": { "express": "` + express.Version + `" }
}
`),
		"server.js": []byte(`const express = require('express');
const app = express();
let hits = 0;
app.use(express.static('public', { maxAge: '1h' }));
app.get('/now', (req, res) => res.json({ hits: ++hits, now: Date.now() }));
app.listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening on ' + process.env.PORT));
`),
		"public/style.css": []byte("body { color: teal; }\n"),
		".gitignore":       []byte("node_modules\n"),
	})
}

// svelteKitApp writes a SvelteKit 2 app with adapter-node (the versions the
// end-to-end test pins: they run on Node 20) whose page is rendered per
// request.
func svelteKitApp(dir string) error {
	return testapp.WriteFiles(dir, map[string][]byte{
		"package.json": []byte(`{
  "name": "berthbench-sveltekit",
  "private": true,
  "type": "module",
  "scripts": { "dev": "vite dev", "build": "vite build" },
  "devDependencies": {
    "@sveltejs/kit": "2.70.4",
    "@sveltejs/vite-plugin-svelte": "6.2.4",
    "@sveltejs/adapter-node": "5.5.7",
    "svelte": "5.57.3",
    "vite": "7.3.8"
  }
}
`),
		"svelte.config.js": []byte(`import adapter from '@sveltejs/adapter-node';
export default { kit: { adapter: adapter() } };
`),
		"vite.config.js": []byte(`import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';
export default defineConfig({ plugins: [sveltekit()] });
`),
		"src/app.html": []byte(`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    %sveltekit.head%
  </head>
  <body>
    <div>%sveltekit.body%</div>
  </body>
</html>
`),
		"src/routes/page.css": []byte("h1 { color: darkorange; font-family: system-ui, sans-serif; }\n"),
		"src/routes/+page.svelte": []byte(`<script>
  import './page.css';
  let { data } = $props();
</script>

<h1>SvelteKit on berth</h1>
<p>rendered at {data.rendered}</p>
`),
		"src/routes/+page.js": []byte("export const load = () => ({ rendered: Date.now() });\n"),
		"src/routes/now/+server.js": []byte(`import { json } from '@sveltejs/kit';
let hits = 0;
export const GET = () => json({ hits: ++hits, now: Date.now() });
`),
		"static/robots.txt": []byte("User-agent: *\nAllow: /\n"),
		".gitignore":        []byte("node_modules\nbuild\n.svelte-kit\n"),
	})
}

// dockerApp writes a repository with a Dockerfile FROM image (no registry
// is reachable) running a dependency-free Node http server on port 8080.
func dockerApp(dir, image string) error {
	return testapp.WriteFiles(dir, map[string][]byte{
		"Dockerfile": []byte("FROM " + image + `
WORKDIR /srv
COPY . ./
EXPOSE 8080
CMD ["node", "/srv/server.js"]
`),
		"server.js": []byte(`const http = require('http');
let hits = 0;
http.createServer((req, res) => {
  res.setHeader('Content-Type', 'application/json');
  if (req.url === '/now') { res.end(JSON.stringify({ hits: ++hits, now: Date.now() })); return; }
  res.statusCode = 404; res.end('{}');
}).listen(Number(process.env.PORT), () => console.log('listening on ' + process.env.PORT));
`),
	})
}

// emptyCommit commits nothing new on dir's branch: a new commit with the
// same tree, as a push of a merge or a rebased branch brings.
func emptyCommit(dir string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	h, err := wt.Commit("berthbench: same tree", &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	return h.String(), err
}
