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

// TestDetectFrameworkServer: Nuxt and React Router are told from their
// package.json, ahead of the plain Node server rule, with the command each
// runs and whether the project is pruned.
func TestDetectFrameworkServer(t *testing.T) {
	tests := []struct {
		name      string
		pkg       string
		files     []string
		framework string // "" for none
		start     []string
		prune     string
		plan      string
	}{
		{"nuxt", `{"scripts":{"build":"nuxt build"},"dependencies":{"nuxt":"^4"}}`, nil,
			"Nuxt", []string{"node", "server/index.mjs"}, "", "Detected Nuxt: will run `node .output/server/index.mjs`"},
		{"nuxt with a node start script", `{"scripts":{"build":"nuxt build","start":"node .output/server/index.mjs"},"devDependencies":{"nuxt":"^3"}}`, nil,
			"Nuxt", []string{"node", "server/index.mjs"}, "", "serve .output/public as a static site (`nuxt generate`)"},
		{"react router with start", `{"scripts":{"build":"react-router build","start":"react-router-serve ./build/server/index.js"},` +
			`"dependencies":{"@react-router/serve":"^7","react-router":"^7"},"devDependencies":{"@react-router/dev":"^7"}}`, nil,
			"React Router", []string{"npm", "start"}, "npm prune --omit=dev",
			"Detected React Router (framework mode): will run `npm start` (start script `react-router-serve ./build/server/index.js`) with PORT when the build makes build/server/index.js, with berth serving build/client, after dropping dev dependencies"},
		{"react router without start, pnpm", `{"scripts":{"build":"react-router build"},` +
			`"dependencies":{"@react-router/serve":"^7"},"devDependencies":{"@react-router/dev":"^7"}}`, []string{"pnpm-lock.yaml"},
			"React Router", []string{"node", "node_modules/@react-router/serve/bin.js", "build/server/index.js"}, "corepack pnpm prune --prod",
			"will run `node node_modules/@react-router/serve/bin.js build/server/index.js` with PORT"},
		{"react router library mode with vite", `{"scripts":{"build":"vite build"},"dependencies":{"react-router":"^7"}}`, nil, "", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "package.json"), []byte(tt.pkg), 0o644)
			for _, f := range tt.files {
				os.WriteFile(filepath.Join(dir, f), nil, 0o644)
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
			if tt.framework == "" {
				if c.Server != nil {
					t.Fatalf("detected a server (%+v), want none", c.Server)
				}
				return
			}
			if c.Server == nil || c.Server.Framework == nil || c.Server.Framework.Name != tt.framework {
				t.Fatalf("got %+v, want %s", c.Server, tt.framework)
			}
			if !slices.Equal(c.Server.Start, tt.start) || c.Server.Prune != tt.prune {
				t.Errorf("start %q prune %q, want %q and %q", c.Server.Start, c.Server.Prune, tt.start, tt.prune)
			}
			if d := c.Server.describe(); !strings.Contains(d, tt.plan) {
				t.Errorf("build log says %q, want it to contain %q", d, tt.plan)
			}
		})
	}
}

// TestFrameworkOutput lays out what each framework's build makes in a real
// container and detects it on the STOPPED container, as a build does.
func TestFrameworkOutput(t *testing.T) {
	image := buildImage(t)
	sb, err := sandbox.New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	labels := testLabels(t, sb)
	nuxt := detectNuxt(packageJSON{Dependencies: map[string]any{"nuxt": "^4"}})
	rr := detectReactRouter(packageJSON{Scripts: map[string]string{"start": "react-router-serve ./build/server/index.js"},
		DevDependencies: map[string]any{"@react-router/dev": "^7"}}, "npm prune --omit=dev")
	tests := []struct {
		name       string
		server     *NodeServer
		script     string
		wantDir    string
		wantType   string
		wantStatic string
		wantErr    string
	}{
		{"nuxt build", nuxt, "mkdir -p .output/server .output/public/_nuxt && touch .output/server/index.mjs",
			"/workspace/.output", model.OutputNodeServer, "/workspace/.output/public", ""},
		{"nuxt generate", nuxt, "mkdir -p .output/public && touch .output/public/index.html",
			"/workspace/.output/public", model.OutputStatic, "", ""},
		{"nuxt made nothing", nuxt, "mkdir -p dist public",
			"", "", "", "the Nuxt build made neither .output/server/index.mjs (a server) nor .output/public (a static site)"},
		{"react router", rr, "mkdir -p build/server build/client/assets && touch build/server/index.js",
			"/workspace", model.OutputNodeServer, "/workspace/build/client", ""},
		{"react router spa", rr, "mkdir -p build/client && touch build/client/index.html",
			"/workspace/build/client", model.OutputStatic, "", ""},
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
			out, err := detectOutput(context.Background(), sb, res.ContainerID, "/workspace", "", tt.server)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || out.Dir != tt.wantDir || out.Type != tt.wantType || out.Static != tt.wantStatic || out.Note == "" {
				t.Fatalf("got %+v, %v; want %s (%s) static %q and a note", out, err, tt.wantDir, tt.wantType, tt.wantStatic)
			}
			if tt.wantType == model.OutputNodeServer && !slices.Equal(out.Start, tt.server.Start) {
				t.Errorf("start %q, want %q", out.Start, tt.server.Start)
			}
		})
	}
}
