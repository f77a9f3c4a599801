package builder

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Commands are the install and build commands a project runs, each given to
// `sh -c` inside the sandbox.
type Commands struct {
	Install string
	Build   string
}

// detectCommands picks defaults from the project's package.json and lock
// file, read on the host: the package manager the lock file belongs to, and
// its build script when there is one. A folder without package.json is a
// plain static site: nothing to run.
func detectCommands(dir string) Commands {
	data, err := readSmallFile(filepath.Join(dir, "package.json"), 4<<20)
	if err != nil {
		return Commands{}
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	_ = json.Unmarshal(data, &pkg) // a broken package.json fails loudly in npm itself
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	var c Commands
	run := "npm run build"
	switch {
	case exists("pnpm-lock.yaml"):
		c.Install, run = "corepack pnpm install --frozen-lockfile", "corepack pnpm run build"
	case exists("yarn.lock"):
		c.Install, run = "yarn install --frozen-lockfile", "yarn run build"
	case exists("package-lock.json"), exists("npm-shrinkwrap.json"):
		c.Install = "npm ci"
	default:
		c.Install = "npm install"
	}
	if _, ok := pkg.Scripts["build"]; ok {
		c.Build = run
	}
	return c
}
