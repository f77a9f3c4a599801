package builder

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
)

// NodeServer is a plain Node server (Express, Fastify, Hono, Koa, or none)
// that runs with its package's start script.
//
// The rule: a package.json with a `start` script, no dependency on next
// (Next.js has its own output), and one sign that the script serves HTTP
// itself: a dependency on a Node server framework, a `main` field, a start
// script that runs a file with `node`, or a server.js / server.mjs /
// server.cjs beside package.json. It takes precedence over static output
// folders, since an Express app often keeps its assets in public/; a Vite
// or Create React App project has no such sign (its `start`, if any, is a
// dev server) and stays static. A project's output_dir setting means
// "serve this folder" and turns the rule off.
type NodeServer struct {
	Script string   // the start script, for the build log
	Why    string   // the sign that made it a server
	Start  []string // the command it runs with, argv
	Prune  string   // drops dev dependencies after the build
	// Set is true when the command is the project's start_command setting
	// rather than the start script.
	Set bool

	// A framework's server (Nuxt, React Router) is only known to be one
	// once its build made Entry; see frameworkServer.
	Framework *frameworkServer
	// Adapter is set for a framework app built for its Node adapter
	// (Astro, SvelteKit; see framework.go), which takes precedence over
	// the start script.
	Adapter *Framework
}

// serverFrameworks are the dependencies that mark a package as an HTTP server.
var serverFrameworks = []string{"express", "fastify", "hono", "@hono/node-server", "koa"}

// serverFiles are entry files that mark a package as a server.
var serverFiles = []string{"server.js", "server.mjs", "server.cjs"}

// detectNodeServer applies the rule above to a package.json; manager is
// npm, pnpm or yarn, from the lock file. exists tells whether a file is in
// the project's folder.
func detectNodeServer(pkg packageJSON, prune string, exists func(string) bool) *NodeServer {
	script, ok := pkg.Scripts["start"]
	if !ok || strings.TrimSpace(script) == "" || pkg.dependsOn("next") {
		return nil
	}
	why := ""
	for _, dep := range serverFrameworks {
		if pkg.dependsOn(dep) {
			why = "depends on " + dep
			break
		}
	}
	if why == "" && pkg.Main != "" {
		why = "main is " + pkg.Main
	}
	if why == "" && strings.HasPrefix(strings.TrimSpace(script), "node ") {
		why = "it runs node"
	}
	if why == "" {
		if i := slices.IndexFunc(serverFiles, exists); i >= 0 {
			why = "has " + serverFiles[i]
		}
	}
	if why == "" {
		return nil
	}
	return &NodeServer{Script: script, Why: why, Prune: prune,
		// npm runs the start script of any package, whichever manager
		// installed it, and comes with the official Node images; pnpm and yarn would
		// come through corepack, which downloads them, and a server has no
		// registry to download from.
		Start: []string{"npm", "start"},
	}
}

// pruneCommand is the package manager's way to drop dev dependencies from
// an installed project.
func pruneCommand(manager string) string {
	switch manager {
	case "pnpm":
		return "corepack pnpm prune --prod"
	case "yarn":
		// Yarn 1 has no prune: a production install removes what it does
		// not list.
		return "yarn install --production --frozen-lockfile --prefer-offline"
	default:
		return "npm prune --omit=dev"
	}
}

// startCommandServer is the Node server a project's own start command
// makes, whatever its package.json says: the command runs with `sh -c` in
// the server container, as the project's own code.
func startCommandServer(command, prune string) *NodeServer {
	return &NodeServer{Script: command, Why: "the project's start command", Start: []string{"sh", "-c", command}, Prune: prune, Set: true}
}

// describe is the build log's explanation of the choice.
func (s *NodeServer) describe() string {
	if s.Framework != nil {
		return s.Framework.Plan
	}
	prune := ""
	if s.Prune != "" {
		prune = ", after dropping dev dependencies"
	}
	if s.Adapter != nil {
		return s.Adapter.describe(s.Prune != "")
	}
	if s.Set {
		return fmt.Sprintf("Node server (the project's start command): will run `%s` with PORT%s.", s.Script, prune)
	}
	return fmt.Sprintf("Detected a Node server (start script `%s`, %s): will run `%s` with PORT%s.",
		s.Script, s.Why, strings.Join(s.Start, " "), prune)
}

// uploadNodeServer stores a Node server as ONE gzipped tar of its folder
// (the project pruned to production dependencies, or a framework's
// self-contained output) and a manifest that holds its start command. The
// manifest lists the files of out.Static, which berth serves itself as it
// does Next.js's static assets; the server answers every other path.
func (p *Pool) uploadNodeServer(ctx context.Context, containerID string, out output, dir, prefix string, em *emitter) error {
	server := filepath.Join(dir, "server")
	if err := p.copyOut(ctx, containerID, out.Dir, server); err != nil {
		return err
	}
	manifest := &artifacts.Manifest{OutputType: model.OutputNodeServer, Files: map[string]artifacts.ManifestFile{}, Start: out.Start, Dir: out.StartDir}
	var parts []staticPart
	if out.Static != "" {
		static := filepath.Join(dir, "static")
		if err := p.copyOut(ctx, containerID, out.Static, static); err != nil {
			return err
		}
		parts = append(parts, staticPart{dir: static})
	}
	started := time.Now()
	files, err := p.uploadStatic(ctx, manifest, prefix, parts)
	if err != nil {
		return err
	}
	size, err := p.uploadBundle(ctx, server, prefix+model.ServerBundle)
	if err != nil {
		return err
	}
	if err := artifacts.PutManifest(ctx, p.store, prefix, manifest); err != nil {
		return err
	}
	if files > 0 {
		em.system("Uploaded the server bundle (%s) and %d static files in %s.", humanize.Bytes(size), files, time.Since(started).Round(10*time.Millisecond))
		return nil
	}
	em.system("Uploaded the server bundle (%s) in %s.", humanize.Bytes(size), time.Since(started).Round(10*time.Millisecond))
	return nil
}
