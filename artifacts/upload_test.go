package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"index.html":         "text/html; charset=utf-8",
		"a/b/app.js":         "text/javascript; charset=utf-8",
		"chunk.mjs":          "text/javascript; charset=utf-8",
		"STYLE.CSS":          "text/css; charset=utf-8",
		"data.json":          "application/json",
		"logo.svg":           "image/svg+xml",
		"app.wasm":           "application/wasm",
		"font.woff2":         "font/woff2",
		"robots.txt":         "text/plain; charset=utf-8",
		"photo.png":          "image/png",
		"blob.bin":           "application/octet-stream",
		"Makefile":           "application/octet-stream",
		"weird.nosuchext123": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}

// recordingStore is the real store, remembering the content type of every Put.
type recordingStore struct {
	Bucket
	mu    sync.Mutex
	types map[string]string
}

func (r *recordingStore) Put(ctx context.Context, key string, rd io.Reader, size int64, contentType string) error {
	r.mu.Lock()
	r.types[key] = contentType
	r.mu.Unlock()
	return r.Bucket.Put(ctx, key, rd, size, contentType)
}

// writeTree creates files (relative path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func testUploadDir(t *testing.T, s Bucket) {
	dir := t.TempDir()
	files := map[string]string{
		"index.html":                 "<h1>hi</h1>",
		"app.js":                     "console.log(1)",
		"chunk.mjs":                  "export {}",
		"style.css":                  "body{}",
		"data.json":                  "{}",
		"logo.svg":                   "<svg/>",
		"m.wasm":                     "\x00asm",
		"f.woff2":                    "wOF2",
		"readme.txt":                 "read me",
		"blob.bin":                   "\x01\x02",
		"Makefile":                   "all:",
		"empty.txt":                  "",
		"_next/static/chunks/a.js":   "a",
		"nested/deep/er/x.css":       "x{}",
		"nested/deep/er/space d.txt": "spaces",
	}
	writeTree(t, dir, files)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	writeTree(t, filepath.Dir(outside), map[string]string{"secret.txt": "secret"})
	for link, target := range map[string]string{
		"link.js":        "app.js",
		"linkdir":        "nested",
		"nested/escape":  outside,
		"nested/dirlink": filepath.Dir(outside),
		"dangling":       "nope",
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}

	rec := &recordingStore{Bucket: s, types: map[string]string{}}
	n, size, err := UploadDir(t.Context(), rec, dir, "up/", 4)
	if err != nil {
		t.Fatalf("UploadDir: %v", err)
	}
	var wantBytes int64
	var wantKeys []string
	for name, body := range files {
		wantBytes += int64(len(body))
		wantKeys = append(wantKeys, "up/"+name)
	}
	slices.Sort(wantKeys)
	if n != len(files) || size != wantBytes {
		t.Errorf("UploadDir = %d files, %d bytes; want %d, %d", n, size, len(files), wantBytes)
	}
	if got := listKeys(t, s, "up/"); !slices.Equal(got, wantKeys) {
		t.Errorf("uploaded keys = %q, want %q", got, wantKeys)
	}
	for name, body := range files {
		if got, _ := get(t, s, "up/"+name); got != body {
			t.Errorf("%s = %q, want %q", name, got, body)
		}
		if got, want := rec.types["up/"+name], ContentType(name); got != want {
			t.Errorf("%s uploaded as %q, want %q", name, got, want)
		}
	}
	if got := rec.types["up/app.js"]; got != "text/javascript; charset=utf-8" {
		t.Errorf("app.js uploaded as %q", got)
	}
	if keys := slices.Sorted(maps.Keys(rec.types)); !slices.Equal(keys, wantKeys) {
		t.Errorf("Put called for %q", keys)
	}
}

// limitStore is the real store, holding every Put until `limit` are in flight at once.
// If UploadDir never reaches the limit, the held Puts fail after a timeout.
type limitStore struct {
	Bucket
	limit int
	full  chan struct{}

	mu             sync.Mutex
	inFlight, peak int
	closedFull     bool
}

func (l *limitStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	l.mu.Lock()
	l.inFlight++
	l.peak = max(l.peak, l.inFlight)
	if l.inFlight == l.limit && !l.closedFull {
		l.closedFull = true
		close(l.full)
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.inFlight--
		l.mu.Unlock()
	}()
	select {
	case <-l.full:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("put %s: never saw %d uploads in flight", key, l.limit)
	}
	return l.Bucket.Put(ctx, key, r, size, contentType)
}

func testUploadDirParallelLimit(t *testing.T, s Bucket) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 12 {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	writeTree(t, dir, files)
	ls := &limitStore{Bucket: s, limit: 3, full: make(chan struct{})}
	n, _, err := UploadDir(t.Context(), ls, dir, "par/", 3)
	if err != nil || n != 12 {
		t.Fatalf("UploadDir = %d, %v", n, err)
	}
	if ls.peak != 3 {
		t.Errorf("peak uploads in flight = %d, want 3", ls.peak)
	}
}

// cancelStore is the real store, cancelling the upload's context at the n-th Put.
type cancelStore struct {
	Bucket
	mu     sync.Mutex
	calls  int
	at     int
	cancel context.CancelFunc
}

func (c *cancelStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	c.mu.Lock()
	c.calls++
	if c.calls == c.at {
		c.cancel()
	}
	c.mu.Unlock()
	return c.Bucket.Put(ctx, key, r, size, contentType)
}

func testUploadDirCancel(t *testing.T, s Bucket) {
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("d%d/f%03d.txt", i%5, i)] = strings.Repeat("x", i)
	}
	writeTree(t, dir, files)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, _, err := UploadDir(ctx, s, dir, "cancel-before/", 4); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("UploadDir with a cancelled ctx = %d files, %v", n, err)
	}
	if keys := listKeys(t, s, "cancel-before/"); len(keys) != 0 {
		t.Errorf("cancelled UploadDir stored %d keys", len(keys))
	}

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	cs := &cancelStore{Bucket: s, at: 10, cancel: cancel}
	start := time.Now()
	n, _, err := UploadDir(ctx, cs, dir, "cancel-during/", 2)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("UploadDir cancelled midway: err = %v, want context.Canceled", err)
	}
	// When the 10th Put cancels, one more upload may be in flight and the walk may be
	// waiting to hand over one more file; nothing after those may start.
	if n >= 10 || cs.calls > 10+2 {
		t.Errorf("UploadDir cancelled at the 10th Put: %d uploaded, %d Puts started", n, cs.calls)
	}
	// An upload cut off by the cancel may still have landed on the server.
	if keys := listKeys(t, s, "cancel-during/"); len(keys) < n || len(keys) >= 10 {
		t.Errorf("%d keys stored, UploadDir reported %d", len(keys), n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled UploadDir took %v", d)
	}
}
