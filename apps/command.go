package apps

import (
	"context"
	"fmt"
	"path"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// command returns the argv d's server runs, the folder it runs in (/app,
// or a workspace app's folder under it), and the variables it needs beyond
// PORT and HOSTNAME: a Next.js standalone server is its
// server.js; a plain Node server runs the start command its build chose
// (kept in the manifest), listening on HOST as some frameworks read it,
// with the variables its framework needs (also in the manifest).
func (s *Manager) command(ctx context.Context, d *store.Deployment) (argv, env []string, dir string, err error) {
	if d.OutputType != model.OutputNodeServer {
		return []string{"node", "server.js"}, []string{"NEXT_TELEMETRY_DISABLED=1"}, "/app", nil
	}
	m, err := artifacts.GetManifest(ctx, s.store, d.ArtifactKey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("read start command: %w", err)
	}
	// A workspace's app runs in its own folder of the bundle.
	dir = path.Join("/app", path.Clean("/"+m.Dir))
	argv = m.Start
	if len(argv) == 0 {
		argv = []string{"npm", "start"}
	}
	// npm's cache and update check would write to HOME, which is / for a
	// uid with no passwd entry.
	return argv, append([]string{"HOST=0.0.0.0", "npm_config_update_notifier=false", "npm_config_cache=/tmp/.npm"}, m.Env...), dir, nil
}
