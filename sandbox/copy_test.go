package sandbox

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Copying in and out of real containers; see newHarness for what they need.

func TestRunCopiesFilesIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "hello.txt"), "hello from the host\n", 0o644)
	mustWrite(t, filepath.Join(src, "bin", "run.sh"), "#!/bin/sh\necho ran\n", 0o755)
	if err := os.Symlink("hello.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	var app, tmp bytes.Buffer
	if err := TarDir(&app, src, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := TarDir(&tmp, src, "", nil); err != nil {
		t.Fatal(err)
	}

	spec := h.spec(`cat hello.txt && ./bin/run.sh && readlink link && stat -c '%a %u' /tmp /app /app/src hello.txt && touch new && cat /tmp/hello.txt`)
	spec.User = "node"
	spec.WorkDir = "/app/src"
	spec.Files = []CopyIn{{Dir: "/app/src", Tar: &app}, {Dir: "/tmp", Tar: &tmp}}
	_, out := h.mustRun(t, spec)
	// The engine made /app/src (the WorkDir) as root; the copy hands it, and only it, to
	// the user, and keeps /tmp's sticky mode.
	want := []string{"hello from the host", "ran", "hello.txt", "1777 1000", "755 0", "755 1000", "644 1000", "hello from the host"}
	if got := out.stream("stdout"); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

// npm install against the real registry: the capability set must not break it.
func TestRunNpmInstall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "package.json"), `{"name":"t","version":"1.0.0","private":true,"scripts":{"build":"node -e \"require('fs').mkdirSync('dist');require('fs').writeFileSync('dist/ok',String(require('is-number')(7)))\""},"dependencies":{"is-number":"7.0.0"}}`, 0o644)
	var tarball bytes.Buffer
	if err := TarDir(&tarball, src, "", nil); err != nil {
		t.Fatal(err)
	}
	spec := h.spec("npm install --no-audit --no-fund && npm run build")
	spec.WorkDir = "/app"
	spec.Files = []CopyIn{{Dir: "/app", Tar: &tarball}}
	spec.Env = []string{"NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"}
	spec.Timeout = 3 * time.Minute
	res, out := h.mustRun(t, spec)
	if res.ExitCode != 0 {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", res.ExitCode, out.stream("stdout"), out.stream("stderr"))
	}
	b, err := h.sb.ReadFile(t.Context(), res.ContainerID, "/app/dist/ok", 10)
	if err != nil || string(b) != "true" {
		t.Errorf("dist/ok = %q, %v", b, err)
	}
}

func TestStoppedContainerFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	res, _ := h.mustRun(t, h.spec(`mkdir -p /out/sub && echo hello > /out/a.txt && echo b > /out/sub/b && head -c 2000 /dev/zero > /out/big && ln -s /out /outlink`))
	id := res.ContainerID
	h.assertStopped(t, id)

	for p, want := range map[string]PathInfo{
		"/out":       {Exists: true, IsDir: true},
		"/outlink":   {Exists: true, IsDir: true},
		"/out/a.txt": {Exists: true, Size: 6},
		"/missing":   {},
	} {
		got, err := h.sb.Stat(ctx, id, p)
		if err != nil {
			t.Errorf("Stat(%s): %v", p, err)
			continue
		}
		if want.IsDir {
			got.Size = 0 // a directory's size is the file system's business
		}
		if got != want {
			t.Errorf("Stat(%s) = %+v, want %+v", p, got, want)
		}
	}

	if b, err := h.sb.ReadFile(ctx, id, "/out/a.txt", 100); err != nil || string(b) != "hello\n" {
		t.Errorf("ReadFile(a.txt) = %q, %v", b, err)
	}
	if _, err := h.sb.ReadFile(ctx, id, "/out/big", 1000); err == nil {
		t.Error("ReadFile of 2000 bytes with limit 1000 succeeded")
	}
	if _, err := h.sb.ReadFile(ctx, id, "/missing", 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) err = %v, want fs.ErrNotExist", err)
	}
	if _, err := h.sb.ReadFile(ctx, id, "/out", 100); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}

	rc, err := h.sb.CopyOut(ctx, id, "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dst := t.TempDir()
	if err := UntarTo(rc, dst, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(dst, "sub", "b")); got != "b\n" {
		t.Errorf("sub/b = %q", got)
	}
	if _, err := h.sb.CopyOut(ctx, id, "/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyOut(missing) err = %v, want fs.ErrNotExist", err)
	}
}
