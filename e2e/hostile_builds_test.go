package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileBuilds: what a build's own code may try against the host.
// A build that prints without end keeps a capped log and still finishes; a
// package.json that is a link to a pipe fails the build at once with a
// sentence instead of hanging a worker; a build that writes more than its
// disk limit is stopped.
func TestHostileBuilds(t *testing.T) {
	requireEnv(t)
	b := startBerth(t, t.TempDir(),
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_BUILD_LOG_LINES=200",
		"BERTH_BUILD_DISK_MB=32",
	)
	repo := func(t *testing.T, build string) string {
		t.Helper()
		dir := t.TempDir()
		pkg := `{"name":"hostile","private":true,"scripts":{"build":"` + build + `"}}`
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	deploy := func(t *testing.T, name, dir string) deployment {
		t.Helper()
		var p struct{ ID string }
		if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": name, "git_url": dir}, &p); code != http.StatusCreated {
			t.Fatalf("create %s: %d", name, code)
		}
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy %s: %d", name, code)
		}
		return b.waitState(d.ID, 10*time.Minute, terminal)
	}

	t.Run("endless log", func(t *testing.T) {
		dir := repo(t, "i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); done; mkdir -p dist && echo ok > dist/index.html")
		commitAll(t, dir, "Print a lot", true)
		d := deploy(t, "chatty", dir)
		log := plainLog(t, b, d.ID)
		if d.State != "ready" || !strings.Contains(log, "Log truncated") || strings.Contains(log, "line 29999") {
			t.Fatalf("state %s; log of %d lines, truncated note %v, last line kept %v",
				d.State, strings.Count(log, "\n"), strings.Contains(log, "Log truncated"), strings.Contains(log, "line 29999"))
		}
		if n := strings.Count(log, "line "); n > 200 {
			t.Errorf("%d output lines kept, the cap is 200", n)
		}
	})

	t.Run("package.json is a pipe", func(t *testing.T) {
		dir := repo(t, "true")
		commitAll(t, dir, "First", true)
		os.Remove(filepath.Join(dir, "package.json"))
		fifo := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		// A link committed into the repository, pointing at a pipe on the host.
		if err := os.Symlink(fifo, filepath.Join(dir, "package.json")); err != nil {
			t.Fatal(err)
		}
		commitAll(t, dir, "Link package.json to a pipe", false)
		d := deploy(t, "piped", dir)
		if d.State != "error" || !strings.Contains(d.Error, "package.json") {
			t.Fatalf("deployment %+v, want an error about package.json", d)
		}
	})

	t.Run("disk filler", func(t *testing.T) {
		dir := repo(t, "head -c 200000000 /dev/zero > filler && sleep 300")
		commitAll(t, dir, "Fill the disk", true)
		d := deploy(t, "filler", dir)
		if d.State != "error" || !strings.Contains(d.Error, "to disk") {
			t.Fatalf("deployment %+v, want it stopped for its disk use", d)
		}
	})
}
