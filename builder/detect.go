package builder

import (
	"context"
	"fmt"
	"path"

	"github.com/berth-dev/berth/sandbox"
)

// Output types.
const (
	OutputStatic = "static"
)

// staticCandidates are the conventional output folders, in the order they
// are tried: Vite, Create React App and friends, static exporters, and plain
// sites kept in public/.
var staticCandidates = []string{"dist", "build", "out", "public"}

// output is what the build produced: a folder in the stopped container.
type output struct {
	Dir  string // absolute path in the container
	Type string
	Root bool // the whole project folder (a plain HTML site); dependency folders are dropped
}

// detectOutput finds the build output on the STOPPED container through the
// copy API (exec does not work on a stopped container).
func detectOutput(ctx context.Context, sb *sandbox.Sandbox, containerID, workdir, outputDir string) (output, error) {
	if outputDir != "" {
		dir := path.Join(workdir, outputDir)
		info, err := sb.Stat(ctx, containerID, dir)
		if err != nil {
			return output{}, fmt.Errorf("inspect output: %w", err)
		}
		if !info.Exists || !info.IsDir {
			return output{}, fmt.Errorf("the output directory %q does not exist after the build", outputDir)
		}
		return output{Dir: dir, Type: OutputStatic}, nil
	}
	for _, c := range staticCandidates {
		dir := path.Join(workdir, c)
		info, err := sb.Stat(ctx, containerID, dir)
		if err != nil {
			return output{}, fmt.Errorf("inspect output: %w", err)
		}
		if info.Exists && info.IsDir {
			return output{Dir: dir, Type: OutputStatic}, nil
		}
	}
	info, err := sb.Stat(ctx, containerID, path.Join(workdir, "index.html"))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if info.Exists && !info.IsDir {
		return output{Dir: workdir, Type: OutputStatic, Root: true}, nil
	}
	return output{}, fmt.Errorf("no build output found: build into dist/, build/, out/ or public/, add an index.html, or set the project's output_dir")
}
