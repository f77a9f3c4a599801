package builder

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// TestDetectFramework: Astro and SvelteKit apps built for their Node
// adapter are servers with the framework's own command, ahead of the start
// script rule; without the adapter they are static sites, and the build log
// says so.
func TestDetectFramework(t *testing.T) {
	tests := []struct {
		name     string
		pkg      string
		lock     string
		wantLog  string // the build log's line: the server's description, or NotServer
		wantKeep string // the output folder a server keeps; "" for a static site
	}{
		{"astro node", `{"scripts":{"build":"astro build"},"dependencies":{"astro":"5.18.2","@astrojs/node":"9.5.5"}}`, "",
			"Detected Astro (@astrojs/node): will run `node dist/server/entry.mjs` with PORT, dist/client/ served by berth, after dropping dev dependencies.", "dist"},
		{"astro node with a start script", `{"scripts":{"start":"node ./dist/server/entry.mjs"},"dependencies":{"astro":"5","@astrojs/node":"9","express":"4"}}`, "pnpm-lock.yaml",
			"Detected Astro (@astrojs/node): will run `node dist/server/entry.mjs` with PORT, dist/client/ served by berth, after dropping dev dependencies.", "dist"},
		{"astro static", `{"scripts":{"build":"astro build","start":"astro dev"},"dependencies":{"astro":"5.18.2"}}`, "",
			"Detected Astro (static, no @astrojs/node): will serve dist/.", ""},
		{"sveltekit node", `{"type":"module","devDependencies":{"@sveltejs/kit":"2","@sveltejs/adapter-node":"5"}}`, "yarn.lock",
			"Detected SvelteKit (adapter-node): will run `node build` with PORT, build/client/ served by berth, after dropping dev dependencies.", "build"},
		{"sveltekit static", `{"devDependencies":{"@sveltejs/kit":"2","@sveltejs/adapter-static":"3"}}`, "",
			"Detected SvelteKit (adapter-static): will serve build/.", ""},
		{"sveltekit auto", `{"devDependencies":{"@sveltejs/kit":"2","@sveltejs/adapter-auto":"3"}}`, "",
			"Detected SvelteKit with neither @sveltejs/adapter-node nor @sveltejs/adapter-static: berth serves build/ if the build writes it; adapter-auto writes nothing berth can run, so use one of the two in svelte.config.js.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "package.json"), []byte(tt.pkg), 0o644)
			if tt.lock != "" {
				os.WriteFile(filepath.Join(dir, tt.lock), nil, 0o644)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			c, err := detectCommands(root)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKeep == "" {
				if c.Server != nil {
					t.Fatalf("detected a server (%+v), want a static site", c.Server)
				}
				if c.NotServer != tt.wantLog {
					t.Errorf("NotServer = %q, want %q", c.NotServer, tt.wantLog)
				}
				return
			}
			if c.Server == nil || c.Server.Adapter == nil {
				t.Fatalf("server = %+v, want a framework's server", c.Server)
			}
			if got := c.Server.describe(); got != tt.wantLog {
				t.Errorf("describe() = %q, want %q", got, tt.wantLog)
			}
			if f := c.Server.Adapter; len(f.Keep) != 1 || f.Keep[0] != tt.wantKeep || c.Server.Prune != c.Prune || c.NotServer != "" {
				t.Errorf("framework %+v, prune %q (want %q), NotServer %q", f, c.Server.Prune, c.Prune, c.NotServer)
			}
		})
	}
}

// TestAdapterOutput lays out framework builds in a real container and
// finds their output on the STOPPED container: the server when the build
// wrote its entry, else the static folder with a note, else an error.
func TestAdapterOutput(t *testing.T) {
	image := buildImage(t)
	sb, err := sandbox.New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	labels := testLabels(t, sb)
	astro, _ := detectAstro(packageJSON{Dependencies: map[string]any{"astro": "5", "@astrojs/node": "9"}})
	kit, _ := detectSvelteKit(packageJSON{DevDependencies: map[string]any{"@sveltejs/kit": "2", "@sveltejs/adapter-node": "5"}})
	tests := []struct {
		name     string
		f        *Framework
		script   string
		wantDir  string
		wantType string
		wantNote string
		wantErr  string
	}{
		{"astro server", astro, "mkdir -p dist/server dist/client && touch dist/server/entry.mjs", "/workspace", model.OutputNodeServer, "", ""},
		{"astro static", astro, "mkdir -p dist && touch dist/index.html", "/workspace/dist", model.OutputStatic, "The build wrote no dist/server/entry.mjs (the app's config does not use @astrojs/node): serving dist/ as files.", ""},
		{"astro nothing", astro, "mkdir -p .vercel/output", "", "", "", "the Astro build wrote neither dist/server/entry.mjs nor dist/"},
		{"sveltekit server", kit, "mkdir -p build/client build/server && touch build/index.js", "/workspace", model.OutputNodeServer, "", ""},
		{"sveltekit entry is a folder", kit, "mkdir -p build/index.js", "/workspace/build", model.OutputStatic, "The build wrote no build/index.js (the app's config does not use adapter-node): serving build/ as files.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := sb.Run(context.Background(), sandbox.Spec{
				Image: image, Cmd: []string{"sh", "-c", "mkdir -p /workspace && cd /workspace && " + tt.script},
				Labels: labels,
			}, nil)
			if res.ContainerID != "" {
				defer sb.Remove(context.Background(), res.ContainerID)
			}
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("prepare container: %v (exit %d)", err, res.ExitCode)
			}
			server := &NodeServer{Start: tt.f.Start, Adapter: tt.f}
			out, err := detectOutput(context.Background(), sb, res.ContainerID, "/workspace", "", server)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || out.Dir != tt.wantDir || out.Type != tt.wantType || out.Note != tt.wantNote {
				t.Fatalf("got %+v, %v; want %s (%s) with note %q", out, err, tt.wantDir, tt.wantType, tt.wantNote)
			}
			if tt.wantType == model.OutputNodeServer && (out.Client != tt.f.Client || !slices.Equal(out.Start, tt.f.Start) || !slices.Equal(out.Keep, tt.f.Keep) || !slices.Equal(out.Env, tt.f.Env)) {
				t.Errorf("server output %+v, want the framework's %+v", out, tt.f)
			}
		})
	}
}
