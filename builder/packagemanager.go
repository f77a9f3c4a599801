package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/berth-dev/berth/model"
)

// A project's package manager is read from its lock file, found in the
// project's folder or the nearest folder above it in the repository (the
// root of a workspace), in this order:
//
//	pnpm-lock.yaml                          pnpm, through corepack
//	yarn.lock with __metadata, .yarnrc.yml  yarn berry (2 and later), through corepack,
//	  or packageManager yarn@2+               with the node_modules linker
//	yarn.lock                               yarn 1
//	package-lock.json, npm-shrinkwrap.json  npm ci
//
// With no lock file, the package.json's packageManager field names pnpm or
// yarn (installed without a frozen lock file); else npm install. corepack
// runs the version the packageManager field pins, or its own default.

// packageManager is how a project installs and runs its scripts.
type packageManager struct {
	Name    string // npm, pnpm, yarn, yarn-berry
	Install string
	Run     string   // runs a package.json script: Run + " build"
	Env     []string // the manager's settings for the build
	Prune   string
}

// lockFileNames are the files that mark the folder a project installs in.
var lockFileNames = []string{"pnpm-lock.yaml", "yarn.lock", "package-lock.json", "npm-shrinkwrap.json"}

// maxYarnLockHead is how much of yarn.lock is read to tell yarn berry's
// format (it starts with __metadata) from yarn 1's.
const maxYarnLockHead = 4 << 10

// detectManager picks the package manager of the project whose lock file is
// in lockDir (the project's folder or its workspace's root). field is the
// packageManager field of the package.json there, or of the project's own.
func detectManager(lockDir *os.Root, field string) (packageManager, error) {
	var bad error
	exists := func(name string) bool {
		ok, err := repoFileExists(lockDir, name)
		bad = errors.Join(bad, err)
		return ok
	}
	name, version, _ := strings.Cut(strings.TrimSpace(field), "@")
	var m packageManager
	switch {
	case exists("pnpm-lock.yaml"):
		m = pnpmManager("corepack pnpm install --frozen-lockfile")
	case exists("yarn.lock"):
		if isBerry(lockDir, name, version, exists) {
			m = berryManager("corepack yarn install --immutable")
		} else {
			m = yarnManager("yarn install --frozen-lockfile")
		}
	case exists("package-lock.json"), exists("npm-shrinkwrap.json"):
		m = npmManager("npm ci")
	case name == "pnpm":
		m = pnpmManager("corepack pnpm install")
	case name == "yarn" && majorAtLeast(version, 2):
		m = berryManager("corepack yarn install")
	case name == "yarn":
		m = yarnManager("corepack yarn install")
	default:
		m = npmManager("npm install")
	}
	return m, bad
}

func npmManager(install string) packageManager {
	return packageManager{Name: "npm", Install: install, Run: "npm run", Prune: pruneCommand("npm")}
}

func pnpmManager(install string) packageManager {
	return packageManager{Name: "pnpm", Install: install, Run: "corepack pnpm run", Prune: pruneCommand("pnpm")}
}

func yarnManager(install string) packageManager {
	run := "yarn run"
	if strings.HasPrefix(install, "corepack ") {
		run = "corepack yarn run"
	}
	return packageManager{Name: "yarn", Install: install, Run: run, Prune: pruneCommand("yarn")}
}

// berryManager installs into node_modules whatever .yarnrc.yml says: berth
// copies and runs node_modules, and Plug'n'Play's .pnp.cjs would need a
// runtime of its own.
func berryManager(install string) packageManager {
	return packageManager{Name: "yarn-berry", Install: install, Run: "corepack yarn run",
		Env:   []string{"YARN_NODE_LINKER=node-modules", "YARN_ENABLE_TELEMETRY=0", "YARN_ENABLE_GLOBAL_CACHE=1"},
		Prune: "corepack yarn workspaces focus --all --production"}
}

// isBerry tells yarn 2 and later from yarn 1: the packageManager field, a
// .yarnrc.yml (yarn 1 reads .yarnrc), or the lock file's __metadata header.
func isBerry(lockDir *os.Root, name, version string, exists func(string) bool) bool {
	if name == "yarn" && version != "" {
		return majorAtLeast(version, 2)
	}
	if exists(".yarnrc.yml") {
		return true
	}
	head, err := readRepoFileHead(lockDir, "yarn.lock", maxYarnLockHead)
	return err == nil && bytes.Contains(head, []byte("\n__metadata:"))
}

// majorAtLeast reports whether a version such as 4.5.3+sha224.abc has a
// major version of at least n.
func majorAtLeast(version string, n int) bool {
	var major int
	if _, err := fmt.Sscanf(version, "%d", &major); err != nil {
		return false
	}
	return major >= n
}

// readRepoFileHead reads at most limit bytes from the start of a regular
// file of the repository.
func readRepoFileHead(dir *os.Root, name string, limit int64) ([]byte, error) {
	f, err := openRepoFile(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// findInstallDir returns the folder a project at rootDir installs in: the
// nearest folder from rootDir up to the repository's root that holds a lock
// file (a workspace installs once, at its root), else rootDir itself. The
// result is a slash path relative to the repository, "." for its root.
func findInstallDir(repo *os.Root, rootDir string) (string, error) {
	start := path.Clean("/" + rootDir)[1:]
	if start == "" {
		start = "."
	}
	for dir := start; ; dir = path.Dir(dir) {
		for _, name := range lockFileNames {
			ok, err := repoFileExists(repo, path.Join(dir, name))
			if err != nil {
				return "", err
			}
			if ok {
				return dir, nil
			}
		}
		if dir == "." {
			return start, nil
		}
	}
}

// packageManagerField reads the packageManager field of dir's package.json,
// "" when there is none.
func packageManagerField(dir *os.Root) (string, error) {
	data, err := readRepoFile(dir, "package.json", maxPackageJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var pkg struct {
		PackageManager string `json:"packageManager"`
	}
	_ = json.Unmarshal(data, &pkg)
	return pkg.PackageManager, nil
}

// openInstallDir opens the folder the project at rootDir installs in (see
// findInstallDir) and returns it with its path relative to the project's
// folder: "" when that is the project's folder itself.
func openInstallDir(repo *os.Root, rootDir string) (*os.Root, string, error) {
	dir, err := findInstallDir(repo, rootDir)
	if err != nil {
		return nil, "", err
	}
	start := path.Clean("/" + rootDir)[1:]
	if start == "" {
		start = "."
	}
	if dir == start {
		root, err := repo.OpenRoot(start)
		if err != nil {
			return nil, "", fmt.Errorf("open the root directory: %w", err)
		}
		return root, "", nil
	}
	root, err := repo.OpenRoot(dir)
	if err != nil {
		return nil, "", fmt.Errorf("open the workspace root: %w", err)
	}
	// dir is an ancestor of start: one ".." per folder between them.
	up := strings.Count(strings.TrimPrefix(start, dir+"/"), "/") + 1
	if dir == "." {
		up = strings.Count(start, "/") + 1
	}
	return root, strings.TrimSuffix(strings.Repeat("../", up), "/"), nil
}

// workspaceServer makes a plain Node server of a workspace's app (out from
// detectOutput, which bundles the app's folder) bundle the workspace's root
// instead, and run its start command in the app's folder: the app's
// dependencies are in the root's node_modules (npm and yarn hoist them
// there; pnpm's links in the app's node_modules point into it), and its
// workspace packages are folders beside it. Framework servers bundle what
// they need themselves and are left alone. It returns a note for the build
// log, or "".
func workspaceServer(out *output, installDir, workdir string) string {
	if installDir == "" || out.Type != model.OutputNodeServer || out.Client != "" || out.Dir != workdir {
		return ""
	}
	root := path.Join(workdir, installDir)
	rel := strings.TrimPrefix(workdir, root+"/")
	if root == "/" || rel == workdir {
		return ""
	}
	out.Dir, out.StartDir = root, rel
	return fmt.Sprintf("Workspace: the server bundle holds the workspace's root (its node_modules); the start command runs in %s.", rel)
}
