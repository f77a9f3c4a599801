package sandbox

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// These tests need no Docker engine.

type entrySpec struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries ...entrySpec) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestTarDirUntarToRoundTrip(t *testing.T) {
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "index.html"), "<h1>hi</h1>", 0o644)
	mustWrite(t, filepath.Join(src, "bin", "run.sh"), "#!/bin/sh\necho run\n", 0o755)
	mustWrite(t, filepath.Join(src, ".git", "HEAD"), "ref: refs/heads/main\n", 0o644)
	mustWrite(t, filepath.Join(src, "debug.log"), "noise", 0o644)
	mustWrite(t, filepath.Join(src, "empty", ".keep"), "", 0o600)
	if err := os.Symlink("bin/run.sh", filepath.Join(src, "run")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	skip := func(rel string, isDir bool) bool {
		return (isDir && rel == ".git") || (!isDir && strings.HasSuffix(rel, ".log"))
	}
	if err := TarDir(&buf, src, "app", skip); err != nil {
		t.Fatal(err)
	}

	var names []string
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: uid/gid %d/%d, want 0/0", hdr.Name, hdr.Uid, hdr.Gid)
		}
		names = append(names, hdr.Name)
	}
	want := []string{"app/", "app/bin/", "app/bin/run.sh", "app/empty/", "app/empty/.keep", "app/index.html", "app/run"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names = %q, want %q", names, want)
	}

	dst := t.TempDir()
	if err := UntarTo(&buf, dst, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(dst, "index.html")); got != "<h1>hi</h1>" {
		t.Errorf("index.html = %q", got)
	}
	fi, err := os.Stat(filepath.Join(dst, "bin", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode = %v, %v; want 0755", fi.Mode(), err)
	}
	if link, err := os.Readlink(filepath.Join(dst, "run")); err != nil || link != "bin/run.sh" {
		t.Errorf("run -> %q, %v; want bin/run.sh", link, err)
	}
	for _, gone := range []string{".git", "debug.log"} {
		if _, err := os.Lstat(filepath.Join(dst, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was not skipped", gone)
		}
	}
}

func TestUntarToRejectsEscapes(t *testing.T) {
	cases := map[string][]entrySpec{
		"dot-dot":           {{name: "../x", body: "x"}},
		"dot-dot inside":    {{name: "a/../../x", body: "x"}},
		"absolute":          {{name: "/etc/evil", body: "x"}},
		"through a symlink": {{name: "sub/", typ: tar.TypeDir}, {name: "link", typ: tar.TypeSymlink, link: "sub"}, {name: "link/f", body: "x"}},
		"through an escaping symlink": {
			{name: "out", typ: tar.TypeSymlink, link: "../outside"},
			{name: "out/f", body: "x"},
		},
		"hard link out": {{name: "h", typ: tar.TypeLink, link: "../outside/secret"}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "dst")
			outside := filepath.Join(parent, "outside")
			mustWrite(t, filepath.Join(outside, "secret"), "secret", 0o600)
			err := UntarTo(makeTar(t, entries...), dir, 0, 1<<20)
			// The escaping symlink is dropped, so "out/f" then lands in a fresh directory
			// inside dir: that is safe and not an error. Everything else must fail.
			if name == "through an escaping symlink" {
				if err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Lstat(filepath.Join(dir, "out")); err != nil || !fi.IsDir() {
					t.Fatalf("out should be a plain directory: %v %v", fi, err)
				}
			} else if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			if _, err := os.Stat(filepath.Join(outside, "f")); err == nil {
				t.Fatal("a file was written outside dir")
			}
			if _, err := os.Stat(filepath.Join(parent, "x")); err == nil {
				t.Fatal("a file was written outside dir")
			}
		})
	}
}

func TestUntarToDropsEscapingSymlinks(t *testing.T) {
	dir := t.TempDir()
	err := UntarTo(makeTar(t,
		entrySpec{name: "abs", typ: tar.TypeSymlink, link: "/etc/passwd"},
		entrySpec{name: "up", typ: tar.TypeSymlink, link: "../x"},
		entrySpec{name: "sub/deep", typ: tar.TypeSymlink, link: "../../x"},
		// Safe when made, escaping once b and c exist: b/c/.. is the parent of dir.
		entrySpec{name: "late", typ: tar.TypeSymlink, link: "b/c/.."},
		entrySpec{name: "b", typ: tar.TypeSymlink, link: "."},
		entrySpec{name: "c", typ: tar.TypeSymlink, link: "."},
		entrySpec{name: "loop", typ: tar.TypeSymlink, link: "loop"},
		entrySpec{name: "ok", typ: tar.TypeSymlink, link: "sub/../file"},
		entrySpec{name: "file", body: "x"},
	), dir, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"abs", "up", "sub/deep", "late", "loop"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("escaping symlink %s was kept", gone)
		}
	}
	if got := mustRead(t, filepath.Join(dir, "ok")); got != "x" {
		t.Errorf("ok -> %q, want the contents of file", got)
	}
}

func TestUntarToLimitsAndDetails(t *testing.T) {
	t.Run("max bytes", func(t *testing.T) {
		big := strings.Repeat("a", 600)
		err := UntarTo(makeTar(t, entrySpec{name: "a", body: big}, entrySpec{name: "b", body: big}), t.TempDir(), 0, 1000)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("strip components and hard links", func(t *testing.T) {
		dir := t.TempDir()
		err := UntarTo(makeTar(t,
			entrySpec{name: "dist/", typ: tar.TypeDir, mode: 0o755},
			entrySpec{name: "dist/index.html", body: "home"},
			entrySpec{name: "dist/copy.html", typ: tar.TypeLink, link: "dist/index.html"},
			entrySpec{name: "dist/suid", body: "s", mode: 0o4755},
		), dir, 1, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, filepath.Join(dir, "copy.html")); got != "home" {
			t.Errorf("copy.html = %q", got)
		}
		fi, err := os.Stat(filepath.Join(dir, "suid"))
		if err != nil || fi.Mode()&fs.ModeSetuid != 0 || fi.Mode().Perm() != 0o755 {
			t.Errorf("suid mode = %v, %v; want 0755 without setuid", fi.Mode(), err)
		}
		if _, err := os.Stat(filepath.Join(dir, "dist")); err == nil {
			t.Error("the first component was not stripped")
		}
	})
	t.Run("replaces a symlink instead of writing through it", func(t *testing.T) {
		dir := t.TempDir()
		err := UntarTo(makeTar(t,
			entrySpec{name: "f", typ: tar.TypeSymlink, link: "g"},
			entrySpec{name: "f", body: "new"},
		), dir, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(dir, "f")); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("f should be a regular file now: %v %v", fi, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "g")); err == nil {
			t.Fatal("the write went through the symlink")
		}
	})
}

func TestLineWriter(t *testing.T) {
	var got []Line
	w := newLineWriter("stdout", func(l Line) { got = append(got, l) })
	long := strings.Repeat("x", maxLineBytes+10)
	for _, chunk := range []string{"one\r\ntw", "o\n\nthr", "ee\n", long[:1000], long[1000:] + "\n", "tail"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	var texts []string
	for _, l := range got {
		if l.Stream != "stdout" {
			t.Errorf("stream = %q", l.Stream)
		}
		texts = append(texts, l.Text)
	}
	want := []string{"one", "two", "", "three", long[:maxLineBytes], long[maxLineBytes:], "tail"}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("got %d lines %.40q, want %d lines %.40q", len(texts), texts, len(want), want)
	}
}

func mustWrite(t *testing.T, p, body string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // not subject to umask
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
