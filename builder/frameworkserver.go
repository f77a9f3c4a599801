package builder

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// frameworkServer is a Node server whose framework builds it into a known
// place: known from package.json before the build, confirmed by the file
// the build makes. A build that made no server but a folder of pages (a
// static generation, a single-page app) is served as that folder.
type frameworkServer struct {
	Name   string // for the build log: "Nuxt", "React Router"
	Plan   string // the build log's explanation, before the build
	Entry  string // the file a server build makes, relative to the project
	Bundle string // the folder that is the whole server artifact; "" for the pruned project
	Static string // the folder of files berth serves itself at the site's root
	// Pages is the folder served as a static site when the build made no
	// Entry.
	Pages string
}

// output is what the build made, read on the stopped container.
func (f *frameworkServer) output(ctx context.Context, sb *sandbox.Sandbox, containerID, workdir string, start []string) (output, error) {
	entry, err := sb.Stat(ctx, containerID, path.Join(workdir, f.Entry))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if entry.Exists && !entry.IsDir {
		out := output{Dir: path.Join(workdir, f.Bundle), Type: model.OutputNodeServer, Start: start,
			Note: fmt.Sprintf("The build made %s: running it as a server with `%s`", f.Entry, strings.Join(start, " "))}
		if f.Static != "" {
			out.Static = path.Join(workdir, f.Static)
			out.Note += fmt.Sprintf("; berth serves %s itself", f.Static)
		}
		out.Note += "."
		return out, nil
	}
	pages, err := sb.Stat(ctx, containerID, path.Join(workdir, f.Pages))
	if err != nil {
		return output{}, fmt.Errorf("inspect output: %w", err)
	}
	if pages.Exists && pages.IsDir {
		return output{Dir: path.Join(workdir, f.Pages), Type: model.OutputStatic,
			Note: fmt.Sprintf("The build made no %s, only %s: serving it as a static site.", f.Entry, f.Pages)}, nil
	}
	return output{}, fmt.Errorf("the %s build made neither %s (a server) nor %s (a static site)", f.Name, f.Entry, f.Pages)
}
