package builder

import (
	"context"
	"fmt"
	"path"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// staticCandidates are the conventional output folders, in the order they
// are tried: Vite, Create React App and friends, static exporters, and plain
// sites kept in public/.
var staticCandidates = []string{"dist", "build", "out", "public"}

// output is what the build produced: a folder in the stopped container.
type output struct {
	Dir   string // absolute path in the container
	Type  string
	Root  bool     // the whole project folder (a plain HTML site); dependency folders are dropped
	Start []string // a Node server's start command
	// StartDir is the folder of Dir the start command runs in, "" for
	// Dir itself (see workspaceServer).
	StartDir string
	// Static is a Node server's folder of files that berth serves itself
	// (absolute path in the container), or "".
	Static string
	// Note explains to the build log what the build turned out to make.
	Note string
	// A framework's server (see Framework): its browser files, served by
	// berth, and what of the project it runs.
	Client string
	Keep   []string
	Env    []string
}

// detectOutput finds the build output on the STOPPED container through the
// copy API (exec does not work on a stopped container). In order: the
// project's output_dir, a Node server (server, known before the build from
// package.json or the project's start command; see NodeServer, and
// Framework for a framework's server or its static folder), Next.js
// output, the static folders, a plain index.html.
func detectOutput(ctx context.Context, sb *sandbox.Sandbox, containerID, workdir, outputDir string, server *NodeServer) (output, error) {
	if outputDir != "" {
		dir := path.Join(workdir, outputDir)
		info, err := sb.Stat(ctx, containerID, dir)
		if err != nil {
			return output{}, fmt.Errorf("inspect output: %w", err)
		}
		if !info.Exists || !info.IsDir {
			return output{}, fmt.Errorf("the output directory %q does not exist after the build", outputDir)
		}
		return output{Dir: dir, Type: model.OutputStatic}, nil
	}
	if server != nil && server.Framework != nil {
		return server.Framework.output(ctx, sb, containerID, workdir, server.Start)
	}
	if server != nil && server.Adapter != nil {
		return server.Adapter.output(ctx, sb, containerID, workdir)
	}
	if server != nil {
		return output{Dir: workdir, Type: model.OutputNodeServer, Start: server.Start}, nil
	}
	if out, ok, err := detectNext(ctx, sb, containerID, workdir); ok || err != nil {
		return out, err
	}
	for _, c := range staticCandidates {
		dir := path.Join(workdir, c)
		info, err := sb.Stat(ctx, containerID, dir)
		if err != nil {
			return output{}, fmt.Errorf("inspect output: %w", err)
		}
		if info.Exists && info.IsDir {
			return output{Dir: dir, Type: model.OutputStatic}, nil
		}
	}
	info, err := sb.Stat(ctx, containerID, path.Join(workdir, "index.html"))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if info.Exists && !info.IsDir {
		return output{Dir: workdir, Type: model.OutputStatic, Root: true}, nil
	}
	return output{}, fmt.Errorf("no build output found: build into dist/, build/, out/ or public/, add an index.html, or set the project's output_dir")
}

// errNextStart explains what to change when a Next.js app was built for
// `next start`, which needs the whole project and its dependencies at run time.
var errNextStart = fmt.Errorf("this Next.js app was built for `next start`, which berth does not run: " +
	"add `output: 'standalone'` to next.config (or `output: 'export'` for a fully static site) and deploy again")

// detectNext recognises Next.js output: standalone (a Node server with its
// own trimmed node_modules) or a static export in out/.
func detectNext(ctx context.Context, sb *sandbox.Sandbox, containerID, workdir string) (output, bool, error) {
	next, err := sb.Stat(ctx, containerID, path.Join(workdir, ".next"))
	if err != nil {
		return output{}, false, fmt.Errorf("inspect output: %w", err)
	}
	if !next.Exists || !next.IsDir {
		return output{}, false, nil
	}
	server, err := sb.Stat(ctx, containerID, path.Join(workdir, ".next/standalone/server.js"))
	if err != nil {
		return output{}, false, fmt.Errorf("inspect output: %w", err)
	}
	if server.Exists && !server.IsDir {
		return output{Dir: workdir, Type: model.OutputNextStandalone}, true, nil
	}
	out, err := sb.Stat(ctx, containerID, path.Join(workdir, "out"))
	if err != nil {
		return output{}, false, fmt.Errorf("inspect output: %w", err)
	}
	if out.Exists && out.IsDir {
		return output{Dir: path.Join(workdir, "out"), Type: model.OutputNextExport}, true, nil
	}
	return output{}, false, errNextStart
}
