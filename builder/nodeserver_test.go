package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDetectNodeServer: the rule that tells a plain Node server from a
// static or Next.js app, read from package.json and the files beside it.
func TestDetectNodeServer(t *testing.T) {
	tests := []struct {
		name      string
		pkg       string
		files     []string
		wantWhy   string // "" for no server
		wantPrune string
	}{
		{"express", `{"scripts":{"start":"node app.js"},"dependencies":{"express":"^4"}}`, nil, "depends on express", "npm prune --omit=dev"},
		{"fastify with pnpm", `{"scripts":{"start":"fastify start app.js"},"dependencies":{"fastify":"^5"}}`, []string{"pnpm-lock.yaml"}, "depends on fastify", "corepack pnpm prune --prod"},
		{"hono with yarn", `{"scripts":{"start":"tsx src/index.ts"},"dependencies":{"@hono/node-server":"^1"}}`, []string{"yarn.lock"}, "depends on @hono/node-server", "yarn install --production --frozen-lockfile --prefer-offline"},
		{"main field", `{"main":"lib/index.js","scripts":{"start":"nodemon"}}`, nil, "main is lib/index.js", "npm prune --omit=dev"},
		{"start runs node", `{"scripts":{"start":"node index.js"}}`, nil, "it runs node", "npm prune --omit=dev"},
		{"server file", `{"scripts":{"start":"run-p serve"}}`, []string{"server.mjs"}, "has server.mjs", "npm prune --omit=dev"},
		{"vite without start", `{"scripts":{"build":"vite build","dev":"vite"},"devDependencies":{"vite":"^5"}}`, []string{"server.js"}, "", ""},
		{"create react app", `{"scripts":{"start":"react-scripts start","build":"react-scripts build"}}`, nil, "", ""},
		{"next", `{"scripts":{"start":"next start"},"dependencies":{"next":"^15","express":"^4"}}`, nil, "", ""},
		{"empty start", `{"scripts":{"start":" "},"dependencies":{"express":"^4"}}`, nil, "", ""},
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
			if tt.wantWhy == "" {
				if c.Server != nil {
					t.Fatalf("detected a Node server (%+v), want none", c.Server)
				}
				// Only a start script that is not Next.js's gets an explanation.
				if want := tt.name == "create react app"; want != (c.NotServer != "") {
					t.Errorf("NotServer = %q, want one: %v", c.NotServer, want)
				}
				return
			}
			if c.Server == nil {
				t.Fatalf("no Node server detected, want one (%s)", tt.wantWhy)
			}
			if c.Server.Why != tt.wantWhy || c.Server.Prune != tt.wantPrune || !slices.Equal(c.Server.Start, []string{"npm", "start"}) {
				t.Errorf("got %+v, want why %q, prune %q, start npm start", c.Server, tt.wantWhy, tt.wantPrune)
			}
		})
	}
}
