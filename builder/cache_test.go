package builder

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", `{"dependencies":{"next":"15"}}`)
	root := openRoot(t, dir)
	pkgOnly := cacheKey(root, "node:22", "/workspace", nil)
	if pkgOnly != cacheKey(root, "node:22", "/workspace", nil) {
		t.Fatal("key not stable")
	}
	write("package-lock.json", `{"lockfileVersion":3}`)
	locked := cacheKey(root, "node:22", "/workspace", nil)
	if locked == pkgOnly {
		t.Error("a lock file does not change the key")
	}
	write("package.json", `{"dependencies":{"next":"15"},"scripts":{"build":"next build"}}`)
	if cacheKey(root, "node:22", "/workspace", nil) != locked {
		t.Error("package.json changes the key although a lock file decides it")
	}
	write("package-lock.json", `{"lockfileVersion":3,"packages":{}}`)
	if cacheKey(root, "node:22", "/workspace", nil) == locked {
		t.Error("a changed lock file keeps the key")
	}
	if cacheKey(root, "node:24", "/workspace", nil) == cacheKey(root, "node:22", "/workspace", nil) {
		t.Error("the image does not change the key")
	}
	if cacheKey(root, "node:22", "/workspace/web", nil) == cacheKey(root, "node:22", "/workspace", nil) {
		t.Error("the root directory does not change the key")
	}
	env := map[string]string{"A": "1", "B": "2"}
	if cacheKey(root, "node:22", "/workspace", env) == cacheKey(root, "node:22", "/workspace", nil) {
		t.Error("environment variables do not change the key")
	}
	if cacheKey(root, "node:22", "/workspace", env) != cacheKey(root, "node:22", "/workspace", map[string]string{"B": "2", "A": "1"}) {
		t.Error("the key depends on map order")
	}
	if cacheKey(root, "node:22", "/workspace", env) == cacheKey(root, "node:22", "/workspace", map[string]string{"A": "1", "B": "3"}) {
		t.Error("a changed value keeps the key")
	}
}

// TestBuildCacheRoundTrip saves the npm cache, .next/cache and
// node_modules out of a stopped build container and restores them into the
// next one: all for the same key; the download and Next.js caches, not
// node_modules, from the project's newest entry for another key; never for
// another project.
func TestBuildCacheRoundTrip(t *testing.T) {
	image := buildImage(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sb, err := sandbox.New(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	labels := testLabels(t, sb)
	c := newBuildCache(t.TempDir(), 1<<30, sb, log)
	run := func(script string, files []sandbox.CopyIn) (string, []string) {
		t.Helper()
		var out []string
		res, err := sb.Run(ctx, sandbox.Spec{
			Image: image, Cmd: []string{"sh", "-c", "mkdir -p /workspace && cd /workspace && " + script},
			Env:    []string{"HOME=/root"},
			Labels: labels,
			Files:  files,
		}, func(l sandbox.Line) { out = append(out, l.Text) })
		if res.ContainerID != "" {
			t.Cleanup(func() { sb.Remove(context.Background(), res.ContainerID) })
		}
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("container: %v (exit %d) %v", err, res.ExitCode, out)
		}
		return res.ContainerID, out
	}

	u := c.restore(ctx, []string{"proj1"}, "k1", "/workspace", true)
	if len(u.copyIns()) != 0 || !strings.Contains(u.describe(), "none yet") {
		t.Fatalf("empty cache restored %v (%s)", u.restored, u.describe())
	}
	id, _ := run("mkdir -p /root/.npm/_cacache/index-v5 .next/cache/webpack && echo npm-data > /root/.npm/_cacache/index-v5/x && "+
		"echo next-data > .next/cache/webpack/y && mkdir -p /root/.npm/_logs && echo log > /root/.npm/_logs/debug.log && "+
		"mkdir -p node_modules/left-pad && echo module > node_modules/left-pad/index.js", nil)
	n, names, err := u.save(ctx, id)
	if err != nil || n == 0 || strings.Join(names, ",") != "npm,next,node_modules" {
		t.Fatalf("save: %d bytes %v %v", n, names, err)
	}

	check := func(u *cacheUse, want string, modules bool) {
		t.Helper()
		_, out := run("cat /root/.npm/_cacache/index-v5/x .next/cache/webpack/y; ls /root/.npm; cat node_modules/left-pad/index.js 2>/dev/null || echo none", u.copyIns())
		wantOut := "npm-data next-data _cacache none"
		if modules {
			wantOut = "npm-data next-data _cacache module"
		}
		if got := strings.Join(out, " "); got != wantOut {
			t.Errorf("restored files: %q, want %q", got, wantOut)
		}
		if !strings.Contains(u.describe(), want) || u.has("node_modules") != modules {
			t.Errorf("describe: %q, want %q (node_modules %v)", u.describe(), want, modules)
		}
		u.close()
	}
	check(c.restore(ctx, []string{"proj1"}, "k1", "/workspace", true), "same lock file", true)
	check(c.restore(ctx, []string{"proj1"}, "k1", "/workspace", false), "same lock file", false)
	check(c.restore(ctx, []string{"proj1"}, "k2", "/workspace", true), "from an earlier lock file", false)
	if u := c.restore(ctx, []string{"proj2"}, "k1", "/workspace", true); len(u.copyIns()) != 0 {
		t.Error("another project's cache was restored")
	}
	if u := c.restore(ctx, []string{"../proj1"}, "k1", "/workspace", true); u != nil {
		t.Error("a project id that is not a plain name was used as a path")
	}
	// A build that may not keep node_modules does not save it.
	u2 := c.restore(ctx, []string{"proj3"}, "k1", "/workspace", false)
	if _, names, err := u2.save(ctx, id); err != nil || strings.Join(names, ",") != "npm,next" {
		t.Fatalf("save without node_modules: %v %v", names, err)
	}
	var nilCache *buildCache
	if u := nilCache.restore(ctx, []string{"proj1"}, "k1", "/workspace", true); u != nil || u.copyIns() != nil || u.describe() != "" {
		t.Error("a pool without a cache dir restored something")
	}
}

// TestBuildCacheEviction: past the size cap the least recently used
// entries go, whatever their project.
func TestBuildCacheEviction(t *testing.T) {
	c := newBuildCache(t.TempDir(), 250, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	old := time.Now().Add(-time.Hour)
	for i, e := range []struct{ project, key string }{{"a", "k1"}, {"b", "k1"}, {"c", "k1"}} {
		dir := filepath.Join(c.dir, e.project, e.key)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "npm.tar"), make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
		at := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(dir, at, at)
	}
	// b was used last; a and c are older.
	now := time.Now()
	os.Chtimes(filepath.Join(c.dir, "b", "k1"), now, now)
	c.evict()
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(c.dir, p, "k1")); return err == nil }
	if exists("a") || !exists("b") || !exists("c") {
		t.Errorf("after eviction: a %v, b %v, c %v; want only a gone", exists("a"), exists("b"), exists("c"))
	}
}

// TestBuildCacheWaitsForSave: a build restoring while the previous build of
// its project still saves its cache waits for that save.
func TestBuildCacheWaitsForSave(t *testing.T) {
	c := newBuildCache(t.TempDir(), 1<<20, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	saving := make(chan struct{})
	c.pending["p"] = saving
	done := make(chan *cacheUse)
	go func() { done <- c.restore(context.Background(), []string{"p"}, "k", "/workspace", true) }()
	select {
	case <-done:
		t.Fatal("restore did not wait for the save in progress")
	case <-time.After(200 * time.Millisecond):
	}
	close(saving)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("restore still waiting after the save ended")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.pending["q"] = make(chan struct{})
	cancel()
	if u := c.restore(ctx, []string{"q"}, "k", "/workspace", true); u != nil {
		t.Error("a cancelled build restored a cache")
	}
}

// TestCacheScopes: production restores only what production builds saved;
// other branches read production's cache but save their own; a fork's
// build reads and writes only a space of its own, so nothing a fork wrote
// can reach production (or a trusted preview).
func TestCacheScopes(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newBuildCache(dir, 1<<30, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	put := func(space, key string) {
		t.Helper()
		entry := filepath.Join(dir, space, key)
		if err := os.MkdirAll(entry, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(entry, "npm.tar"), []byte(space), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	from := func(scope string) string {
		t.Helper()
		u := c.restore(ctx, cacheSpaces("p1", scope), "k", "/workspace", true)
		defer u.close()
		if len(u.files) == 0 {
			return ""
		}
		return filepath.Base(filepath.Dir(filepath.Dir(u.files[0].Name())))
	}
	want := func(step, scope, space string) {
		t.Helper()
		if got := from(scope); got != space {
			t.Errorf("%s: a %s build restored from %q, want %q", step, scope, got, space)
		}
	}

	put("p1-fork", "k")
	want("only a fork saved", model.ScopeProduction, "")
	want("only a fork saved", model.ScopePreview, "")
	want("only a fork saved", model.ScopeFork, "p1-fork")

	put("p1-preview", "other")
	want("a preview saved", model.ScopeProduction, "")
	want("a preview saved", model.ScopePreview, "p1-preview")

	put("p1", "k")
	want("production saved", model.ScopeProduction, "p1")
	want("production saved", model.ScopeFork, "p1-fork")
	os.RemoveAll(filepath.Join(dir, "p1-preview"))
	want("production saved, no preview cache", model.ScopePreview, "p1")
	if got := cacheSpaces("p1", model.ScopeFork); len(got) != 1 || got[0] != "p1-fork" {
		t.Errorf("a fork build saves into %v", got)
	}
}
