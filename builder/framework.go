package builder

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// Framework is a framework app built for its Node adapter, whose output
// berth knows: the server entry the build writes, the browser files berth
// serves beside the server, and the folder served as files when the build
// wrote no server after all (the adapter is installed but the app's config
// does not use it). It rides on a NodeServer, so the production prune, the
// build log and the server bundle go the way of every Node server.
type Framework struct {
	Name    string   // Astro, SvelteKit
	Adapter string   // the dependency that makes it a server
	Start   []string // the server's command, argv, run in the project folder
	Entry   string   // the file the build writes when it made a server
	Client  string   // the server's browser files, served by berth at /
	Keep    []string // what the server needs besides package.json and node_modules
	Static  string   // served as files when the build wrote no Entry
	Env     []string // variables the server needs, KEY=value
}

// frameworks are the framework rules, tried in order. Each returns the
// framework when the app uses its Node adapter, else (for an app of that
// framework) the build log's explanation of the static output berth serves.
var frameworks = []func(packageJSON) (*Framework, string){detectAstro, detectSvelteKit}

// detectFramework applies the framework rules to a package.json: a Node
// server when the app uses its framework's Node adapter, or an explanation
// of the static output; neither for an app of no known framework.
func detectFramework(pkg packageJSON, prune string) (*NodeServer, string) {
	for _, detect := range frameworks {
		f, static := detect(pkg)
		if f != nil {
			return &NodeServer{Script: strings.Join(f.Start, " "), Why: f.Name + " with " + f.Adapter,
				Start: f.Start, Prune: prune, Adapter: f}, ""
		}
		if static != "" {
			return nil, static
		}
	}
	return nil, ""
}

// describe is the build log's explanation of the choice.
func (f *Framework) describe(prune bool) string {
	after := ""
	if prune {
		after = ", after dropping dev dependencies"
	}
	return fmt.Sprintf("Detected %s (%s): will run `%s` with PORT, %s/ served by berth%s.",
		f.Name, f.Adapter, strings.Join(f.Start, " "), f.Client, after)
}

// output finds the framework's output in the stopped container: its server
// when the build wrote the entry file, else its static folder.
func (f *Framework) output(ctx context.Context, sb *sandbox.Sandbox, containerID, workdir string) (output, error) {
	entry, err := sb.Stat(ctx, containerID, path.Join(workdir, f.Entry))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if entry.Exists && !entry.IsDir {
		return output{Dir: workdir, Type: model.OutputNodeServer, Start: f.Start, Client: f.Client, Keep: f.Keep, Env: f.Env}, nil
	}
	static, err := sb.Stat(ctx, containerID, path.Join(workdir, f.Static))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if static.Exists && static.IsDir {
		return output{Dir: path.Join(workdir, f.Static), Type: model.OutputStatic,
			Note: fmt.Sprintf("The build wrote no %s (the app's config does not use %s): serving %s/ as files.", f.Entry, f.Adapter, f.Static)}, nil
	}
	return output{}, fmt.Errorf("the %s build wrote neither %s nor %s/: check the adapter in the app's config", f.Name, f.Entry, f.Static)
}

// uploadFrameworkServer stores a framework's server as ONE gzipped tar of
// what it runs (package.json, the pruned node_modules and the build output)
// and its browser files as files, which berth serves itself, as it does
// Next.js's static assets; everything else goes to the server.
func (p *Pool) uploadFrameworkServer(ctx context.Context, containerID string, out output, dir, prefix string, em *emitter) error {
	server := filepath.Join(dir, "server")
	if err := p.copyOut(ctx, containerID, out.Dir, server); err != nil {
		return err
	}
	entries, err := os.ReadDir(server)
	if err != nil {
		return fmt.Errorf("read the server folder: %w", err)
	}
	keep := append([]string{"package.json", "node_modules"}, out.Keep...)
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			if err := os.RemoveAll(filepath.Join(server, e.Name())); err != nil {
				return fmt.Errorf("trim the server folder: %w", err)
			}
		}
	}

	started := time.Now()
	manifest := &artifacts.Manifest{OutputType: model.OutputNodeServer, Files: map[string]artifacts.ManifestFile{}, Start: out.Start, Env: out.Env}
	var files int
	client := filepath.Join(server, filepath.FromSlash(out.Client))
	if info, err := os.Stat(client); err == nil && info.IsDir() {
		m, err := artifacts.BuildManifest(client, model.OutputNodeServer)
		if err != nil {
			return err
		}
		manifest.Files = m.Files
		if files, _, err = artifacts.UploadDir(ctx, p.store, client, prefix+model.FilesDir, p.cfg.UploadParallel); err != nil {
			return fmt.Errorf("upload static assets: %w", err)
		}
	}
	size, err := p.uploadBundle(ctx, server, prefix+model.ServerBundle)
	if err != nil {
		return err
	}
	if err := artifacts.PutManifest(ctx, p.store, prefix, manifest); err != nil {
		return err
	}
	em.system("Uploaded the server bundle (%s) and %d static files in %s.", humanize.Bytes(size), files, time.Since(started).Round(10*time.Millisecond))
	return nil
}
