package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerignore reads the build context's .dockerignore, as the docker CLI
// does before it sends a context (the engine's API reads none), and
// returns the skip function for sandbox.TarDir: .git always, what the file
// excludes, but never the Dockerfile or the .dockerignore itself (the CLI
// sends them either way). A directory is skipped whole only when no `!`
// pattern could bring back something inside it.
func dockerignore(contextDir *os.Root, dockerfile string) (func(rel string, isDir bool) bool, error) {
	skipGit := func(rel string, isDir bool) bool { return rel == ".git" }
	f, err := contextDir.Open(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return skipGit, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return func(rel string, isDir bool) bool {
		if rel == ".git" {
			return true
		}
		if rel == dockerfile || rel == ".dockerignore" || (isDir && pm.Exclusions()) {
			return false
		}
		skip, err := pm.MatchesOrParentMatches(rel)
		return err == nil && skip
	}, nil
}
