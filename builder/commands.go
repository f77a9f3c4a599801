package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Commands are the install and build commands a project runs, each given to
// `sh -c` inside the sandbox.
type Commands struct {
	Install string
	Build   string

	// What package.json says, for the build cache and Next.js.
	UsesNext bool // depends on next
	// ReusableModules: npm installs the project into one node_modules (no
	// workspaces), so a node_modules made from the same lock file can be
	// kept for the next build.
	ReusableModules bool
	// InstallScripts: the project's own package has install lifecycle
	// scripts, which write who knows where: its install always runs.
	InstallScripts bool
	// Server is set when the project is a plain Node server.
	Server *NodeServer
	// Prune drops dev dependencies, in the project's package manager.
	Prune string
	// NotServer explains, for the build log, why the project is not a
	// Node server: a start script that shows none, or a framework app
	// built as a static site.
	NotServer string
	// Manager is the package manager's name; Env its settings for the
	// build.
	Manager string
	Env     []string
	// InstallDir is where Install runs, relative to the project's folder:
	// "" for the folder itself, else the root of its workspace (where the
	// lock file is).
	InstallDir string
}

// packageJSON is what berth reads of a package.json.
type packageJSON struct {
	Main            string            `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]any    `json:"dependencies"`
	DevDependencies map[string]any    `json:"devDependencies"`
	Workspaces      any               `json:"workspaces"`
	PackageManager  string            `json:"packageManager"`
}

// dependsOn reports whether the package lists name as a dependency or a dev
// dependency.
func (p packageJSON) dependsOn(name string) bool {
	_, dep := p.Dependencies[name]
	_, dev := p.DevDependencies[name]
	return dep || dev
}

// detectCommands picks defaults from the project's package.json and lock
// file, read on the host: the package manager the lock file belongs to, and
// its build script when there is one. A folder without package.json is a
// plain static site: nothing to run. dir is the project's folder of the
// cloned repository; a package.json or lock file that is not a regular file
// inside it is an error, never followed.
func detectCommands(dir *os.Root) (Commands, error) {
	return detectWorkspaceCommands(dir, dir, "")
}

// detectWorkspaceCommands is detectCommands for a project whose lock file
// is in lockDir, the root of its workspace at installDir (relative to dir):
// the install runs there, the build in the project's own folder.
func detectWorkspaceCommands(dir, lockDir *os.Root, installDir string) (Commands, error) {
	data, err := readRepoFile(dir, "package.json", maxPackageJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return Commands{}, nil
	}
	if err != nil {
		return Commands{}, err
	}
	var pkg packageJSON
	_ = json.Unmarshal(data, &pkg) // a broken package.json fails loudly in npm itself
	var bad error
	exists := func(name string) bool {
		ok, err := repoFileExists(dir, name)
		bad = errors.Join(bad, err)
		return ok
	}
	var c Commands
	c.UsesNext = pkg.dependsOn("next")
	for _, name := range []string{"preinstall", "install", "postinstall", "prepare"} {
		if _, ok := pkg.Scripts[name]; ok {
			c.InstallScripts = true
		}
	}
	field := pkg.PackageManager
	if installDir != "" {
		if f, err := packageManagerField(lockDir); err != nil {
			return Commands{}, err
		} else if f != "" {
			field = f
		}
	}
	m, err := detectManager(lockDir, field)
	if err != nil {
		return Commands{}, err
	}
	c.Install, c.Manager, c.Env, c.Prune, c.InstallDir = m.Install, m.Name, m.Env, m.Prune, installDir
	// npm installs a project of no workspace into one node_modules.
	c.ReusableModules = m.Name == "npm" && pkg.Workspaces == nil && installDir == ""
	if _, ok := pkg.Scripts["build"]; ok {
		c.Build = m.Run + " build"
	}
	c.Server = detectNodeServer(pkg, c.Prune, exists)
	if s := detectNuxt(pkg); s != nil {
		c.Server = s
	}
	if s := detectReactRouter(pkg, c.Prune); s != nil {
		c.Server = s
	}
	if start := strings.TrimSpace(pkg.Scripts["start"]); c.Server == nil && !c.UsesNext && start != "" {
		c.NotServer = fmt.Sprintf("The start script `%s` shows no Node server (no dependency on %s, no main field, "+
			"no `node …` start, no server.js): the build output is served as files. Set the project's start command to run it instead.",
			start, strings.Join(serverFrameworks, ", "))
	}
	if server, static := detectFramework(pkg, c.Prune); server != nil {
		c.Server, c.NotServer = server, ""
	} else if static != "" && c.Server == nil {
		c.NotServer = static
	}
	if bad != nil {
		return Commands{}, bad
	}
	return c, nil
}
