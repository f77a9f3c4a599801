package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// DefaultCacheMaxBytes is the default size cap of all build caches together.
const DefaultCacheMaxBytes = 4 << 30

// cachedPaths are the folders a build keeps for the next build of the same
// project: package managers' download caches (HOME is /root in builds; yarn
// berry's is its global cache, which builds turn on), the package managers
// corepack downloaded,
// Next.js's own build cache, and node_modules, relative to the project's
// folder when not absolute. Only those that exist after a build are kept.
// An exact folder is restored only into a build with the same key (the same
// lock file, image, root directory and environment): node_modules made
// from another lock file is not what this one asks for, while a download
// cache of an older lock file still holds most of what the new one needs.
var cachedPaths = []struct {
	name, dir string
	exact     bool
}{
	{"npm", "/root/.npm/_cacache", false},
	{"yarn", "/usr/local/share/.cache/yarn", false},
	{"pnpm", "/root/.local/share/pnpm/store", false},
	{"yarn-berry", "/root/.yarn/berry/cache", false},
	{"corepack", "/root/.cache/node/corepack", false}, // the pnpm and yarn releases corepack fetched
	{"next", ".next/cache", false},
	{"node_modules", "node_modules", true},
}

// lockFiles decide a cache's key, in this order; package.json stands in
// when there is none.
var lockFiles = []string{"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "package.json"}

// buildCache keeps, per project, the folders a build can reuse, as one tar
// file per folder under dir/<project>/<key>/, copied out of the stopped
// build container after a successful build and copied into the next
// build's container before it starts. The key hashes the lock file (and the
// image and root directory), so a changed dependency set starts a new entry;
// a build whose key has no entry yet still starts from the project's newest
// one, since most of a download cache stays valid. One entry is kept per
// project; all entries together stay under max bytes, the least recently
// used going first.
type buildCache struct {
	dir string
	max int64
	sb  *sandbox.Sandbox
	log *slog.Logger

	mu sync.Mutex // one save or eviction at a time

	pendingMu sync.Mutex
	pending   map[string]chan struct{} // project -> closed when its save in the background ends
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func newBuildCache(dir string, maxBytes int64, sb *sandbox.Sandbox, log *slog.Logger) *buildCache {
	if dir == "" {
		return nil
	}
	if maxBytes <= 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	return &buildCache{dir: dir, max: maxBytes, sb: sb, log: log, pending: map[string]chan struct{}{}}
}

// cacheKey names a project's dependency set: the hash of its lock file (or
// package.json; the workspace's root's for a project in a workspace), the build image, the root directory and the build's
// environment variables (install scripts may read them).
// The files are read through projectDir, confined to the repository, and a
// file that is not a regular one, or is too large, is passed over.
func cacheKey(projectDir *os.Root, image, rootDir string, env map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", image, rootDir)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(h, "env\x00%s\x00%s\x00", k, env[k])
	}
	for _, name := range lockFiles {
		fh := sha256.New()
		if err := hashRepoFile(projectDir, name, maxLockFile, fh); err == nil {
			fmt.Fprintf(h, "%s\x00", name)
			h.Write(fh.Sum(nil))
			break
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// cacheUse is one build's use of the cache: what it restored and where it
// saves.
type cacheUse struct {
	c         *buildCache
	project   string
	key       string
	workdir   string // the project's folder in the container
	modules   bool   // node_modules is kept and restored (Commands.ReusableModules)
	files     []*os.File
	restored  []string
	restoreAt string // the entry restored, if any
}

// has reports whether the named folder was restored.
func (u *cacheUse) has(name string) bool {
	return u != nil && slices.Contains(u.restored, name)
}

// cacheSpaces lists the cache spaces a build of projectID in scope may
// restore from, its own first (the one it saves to). Production builds use
// only what production builds wrote; other branches read production's too
// but write a space of their own; a fork's build sees only its own space, so
// nothing it writes ever reaches production's dependencies or .next/cache.
func cacheSpaces(projectID, scope string) []string {
	switch scope {
	case model.ScopeProduction:
		return []string{projectID}
	case model.ScopeFork:
		return []string{projectID + "-fork"}
	default: // preview, or a job from before scopes: never production's own space
		return []string{projectID + "-preview", projectID}
	}
}

// restore opens the entry for key (else the newest entry) of the first of
// spaces that has one, and returns the folders to copy into the build
// container; node_modules only when modules is set and the entry is key's
// own. The build saves into spaces[0]. A nil *buildCache, or an unusable
// space name, gives a use that does nothing.
func (c *buildCache) restore(ctx context.Context, spaces []string, key, workdir string, modules bool) *cacheUse {
	if c == nil || len(spaces) == 0 {
		return nil
	}
	for _, s := range spaces {
		if !safeID.MatchString(s) {
			return nil
		}
	}
	projectID := spaces[0]
	// The previous build of this project may still be saving its cache:
	// wait for it rather than start cold.
	c.pendingMu.Lock()
	saving := c.pending[projectID]
	c.pendingMu.Unlock()
	if saving != nil {
		select {
		case <-saving:
		case <-ctx.Done():
			return nil
		}
	}
	u := &cacheUse{c: c, project: projectID, key: key, workdir: workdir, modules: modules}
	var entry string
	for _, s := range spaces {
		if _, err := os.Stat(filepath.Join(c.dir, s, key)); err == nil {
			entry = filepath.Join(c.dir, s, key)
		} else {
			entry = c.newest(s)
		}
		if entry != "" {
			break
		}
	}
	if entry == "" {
		return u
	}
	now := time.Now()
	os.Chtimes(entry, now, now) // recently used: evicted last
	exact := filepath.Base(entry) == key
	for _, p := range cachedPaths {
		if p.exact && !(exact && modules) {
			continue
		}
		f, err := os.Open(filepath.Join(entry, p.name+".tar"))
		if err != nil {
			continue
		}
		u.files = append(u.files, f)
		u.restored = append(u.restored, p.name)
	}
	if len(u.files) > 0 {
		u.restoreAt = filepath.Base(entry)
	}
	return u
}

// copyIns returns the restored folders as tar streams for the sandbox.
func (u *cacheUse) copyIns() []sandbox.CopyIn {
	if u == nil {
		return nil
	}
	var out []sandbox.CopyIn
	for i, f := range u.files {
		dir := u.c.containerPath(u.restored[i], u.workdir)
		out = append(out, sandbox.CopyIn{Dir: path.Dir(dir), Tar: f})
	}
	return out
}

// describe says what was restored, for the build log.
func (u *cacheUse) describe() string {
	if u == nil {
		return ""
	}
	if len(u.files) == 0 {
		return "Build cache: none yet for this project."
	}
	var size int64
	for _, f := range u.files {
		if fi, err := f.Stat(); err == nil {
			size += fi.Size()
		}
	}
	how := "same lock file"
	if u.restoreAt != u.key {
		how = "from an earlier lock file"
	}
	return fmt.Sprintf("Restored build cache (%s, %s; %s).", strings.Join(u.restored, ", "), humanize.Bytes(size), how)
}

func (u *cacheUse) close() {
	if u == nil {
		return
	}
	for _, f := range u.files {
		f.Close()
	}
}

func (c *buildCache) containerPath(name, workdir string) string {
	for _, p := range cachedPaths {
		if p.name == name {
			if path.IsAbs(p.dir) {
				return p.dir
			}
			return path.Join(workdir, p.dir)
		}
	}
	return ""
}

// newest returns the project's most recently used entry, or "".
func (c *buildCache) newest(projectID string) string {
	entries, err := os.ReadDir(filepath.Join(c.dir, projectID))
	if err != nil {
		return ""
	}
	var best string
	var bestAt time.Time
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(bestAt) {
			best, bestAt = filepath.Join(c.dir, projectID, e.Name()), fi.ModTime()
		}
	}
	return best
}

// save copies the cached folders out of the stopped build container into
// the project's entry for the use's key, replaces the project's older
// entries, and evicts the least recently used entries of all projects while
// the total is over the cap. It returns the bytes saved.
func (u *cacheUse) save(ctx context.Context, containerID string) (int64, []string, error) {
	if u == nil {
		return 0, nil, nil
	}
	c := u.c
	projectDir := filepath.Join(c.dir, u.project)
	if err := os.MkdirAll(projectDir, 0o700); err != nil {
		return 0, nil, fmt.Errorf("create build cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(projectDir, ".save-")
	if err != nil {
		return 0, nil, fmt.Errorf("create build cache dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	var total int64
	var saved []string
	for _, p := range cachedPaths {
		if p.exact && !u.modules {
			continue
		}
		src := c.containerPath(p.name, u.workdir)
		info, err := c.sb.Stat(ctx, containerID, src)
		if err != nil {
			return 0, nil, err
		}
		if !info.Exists || !info.IsDir {
			continue
		}
		n, err := c.copyOut(ctx, containerID, src, filepath.Join(tmp, p.name+".tar"), c.max-total)
		if err != nil {
			return 0, nil, err
		}
		total += n
		saved = append(saved, p.name)
	}
	if len(saved) == 0 {
		return 0, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	entries, _ := os.ReadDir(projectDir)
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			os.RemoveAll(filepath.Join(projectDir, e.Name()))
		}
	}
	if err := os.Rename(tmp, filepath.Join(projectDir, u.key)); err != nil {
		return 0, nil, fmt.Errorf("store build cache: %w", err)
	}
	c.evict()
	return total, saved, nil
}

var errCacheTooBig = errors.New("larger than the build cache's size cap")

// copyOut writes the tar stream of a container folder to dst, at most limit
// bytes.
func (c *buildCache) copyOut(ctx context.Context, containerID, src, dst string, limit int64) (int64, error) {
	rc, err := c.sb.CopyOut(ctx, containerID, src)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return 0, fmt.Errorf("create build cache file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("save %s: %w", src, err)
	}
	if n > limit {
		return 0, fmt.Errorf("save %s: %w", src, errCacheTooBig)
	}
	return n, nil
}

// evict removes the least recently used entries until all fit under the
// cap. c.mu is held.
func (c *buildCache) evict() {
	type entry struct {
		dir  string
		used time.Time
		size int64
	}
	var all []entry
	var total int64
	projects, _ := os.ReadDir(c.dir)
	for _, p := range projects {
		if !p.IsDir() {
			continue
		}
		keys, _ := os.ReadDir(filepath.Join(c.dir, p.Name()))
		for _, k := range keys {
			if !k.IsDir() || strings.HasPrefix(k.Name(), ".") {
				continue
			}
			dir := filepath.Join(c.dir, p.Name(), k.Name())
			fi, err := k.Info()
			if err != nil {
				continue
			}
			e := entry{dir: dir, used: fi.ModTime(), size: dirSize(dir)}
			all = append(all, e)
			total += e.size
		}
	}
	if total <= c.max {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, e := range all {
		if total <= c.max {
			break
		}
		if err := os.RemoveAll(e.dir); err != nil {
			c.log.Warn("evict build cache", slog.String("dir", e.dir), slog.Any("error", err))
			continue
		}
		total -= e.size
		c.log.Info("evicted build cache", slog.String("entry", e.dir), slog.String("size", humanize.Bytes(e.size)))
	}
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// restoreCache opens the project's build cache for this build and logs what
// it restores. It returns nil when the pool keeps no cache.
func (p *Pool) restoreCache(ctx context.Context, job queue.BuildJob, projectDir *os.Root, workdir string, env map[string]string, modules bool, em *emitter) *cacheUse {
	u := p.cache.restore(ctx, cacheSpaces(job.ProjectID, job.Scope), cacheKey(projectDir, p.cfg.Image, workdir, env), workdir, modules)
	if msg := u.describe(); msg != "" {
		em.system("%s", msg)
	}
	return u
}

// finishLater does what nobody needs to wait for once a build's output is
// uploaded, in the background, after the build's final state is out: it
// saves the build cache out of the stopped container (when the build
// succeeded), then removes the container (a few seconds for one holding
// node_modules). A later build of the same project waits for the save
// before restoring. Close waits for this work, and stops a save under way
// (its half-copied files are removed): berth stops promptly.
func (p *Pool) finishLater(ctx context.Context, u *cacheUse, containerID string, succeeded bool) {
	var done chan struct{}
	if u != nil && succeeded {
		done = make(chan struct{})
		u.c.pendingMu.Lock()
		u.c.pending[u.project] = done
		u.c.pendingMu.Unlock()
	}
	bg := context.WithoutCancel(ctx)
	p.later(func() {
		if done != nil {
			saveCtx, cancel := context.WithTimeout(p.closing, 5*time.Minute)
			started := time.Now()
			n, names, err := u.save(saveCtx, containerID)
			cancel()
			if err != nil {
				p.log.Warn("save build cache", slog.String("project", u.project), slog.Any("error", err))
			} else if len(names) > 0 {
				p.log.Info("saved build cache", slog.String("project", u.project), slog.String("folders", strings.Join(names, ",")),
					slog.String("size", humanize.Bytes(n)), slog.Duration("took", time.Since(started)))
			}
			u.c.pendingMu.Lock()
			if u.c.pending[u.project] == done {
				delete(u.c.pending, u.project)
			}
			u.c.pendingMu.Unlock()
			close(done)
		}
		rmCtx, cancel := context.WithTimeout(bg, 2*time.Minute)
		defer cancel()
		if err := p.sb.Remove(rmCtx, containerID); err != nil {
			p.log.Warn("remove build container", slog.Any("error", err))
		}
	})
}

// later runs fn in the background, owned by the pool: Close waits for it.
// It is called from a worker, so the pool's WaitGroup is above zero.
func (p *Pool) later(fn func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
}
