package serving

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// staticHarness is a serving handler over real SQLite and a local artifact
// store, with helpers to publish deployments.
type staticHarness struct {
	h     *Handler
	db    *store.DB
	st    artifacts.Bucket
	owner string
	cache string
}

func newStaticHarness(t testing.TB) *staticHarness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin, err := db.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := artifacts.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sh := &staticHarness{db: db, st: st, owner: admin.ID, cache: t.TempDir()}
	sh.h = sh.handler(t, 0)
	return sh
}

func (sh *staticHarness) handler(t testing.TB, memBytes int64) *Handler {
	t.Helper()
	h, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache, MemoryCacheBytes: memBytes}, sh.db, sh.st, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (sh *staticHarness) project(t testing.TB, name string) *store.Project {
	t.Helper()
	p := &store.Project{OwnerID: sh.owner, Name: name, GitURL: "/srv/git/" + name}
	if err := sh.db.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// deploy creates a deployment of p serving files and takes it to state
// (ready: with its artifact uploaded).
func (sh *staticHarness) deploy(t testing.TB, p *store.Project, files map[string][]byte, state string) *store.Deployment {
	t.Helper()
	ctx := context.Background()
	d := &store.Deployment{ProjectID: p.ID, Branch: "main"}
	if err := sh.db.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	prefix := "deployments/" + d.ID + "/"
	dir := t.TempDir()
	for name, data := range files {
		mustWrite(t, filepath.Join(dir, filepath.FromSlash(name)), data)
	}
	m, err := artifacts.BuildManifest(dir, "static")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := artifacts.UploadDir(ctx, sh.st, dir, prefix+model.FilesDir, 4); err != nil {
		t.Fatal(err)
	}
	if err := artifacts.PutManifest(ctx, sh.st, prefix, m); err != nil {
		t.Fatal(err)
	}
	sh.transition(t, d.ID, model.StateBuilding)
	if state == model.StateBuilding {
		return d
	}
	sh.transition(t, d.ID, model.StateUploading)
	sh.db.ApplyTransition(ctx, d.ID, store.Transition{To: model.StateReady, At: time.Now(), OutputType: "static", ArtifactKey: prefix})
	return d
}

func (sh *staticHarness) transition(t testing.TB, id, to string) {
	t.Helper()
	ok, err := sh.db.ApplyTransition(context.Background(), id, store.Transition{To: to, At: time.Now(), ArtifactKey: "deployments/" + id + "/", OutputType: "static"})
	if err != nil || !ok {
		t.Fatalf("transition %s to %s: %v %v", id, to, ok, err)
	}
}

func mustWrite(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// get sends a request for host and path with header pairs.
func (sh *staticHarness) get(h *Handler, method, host, path string, header ...string) *http.Response {
	req := httptest.NewRequest(method, "http://"+host+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func readBody(t *testing.T, res *http.Response) []byte {
	t.Helper()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decode(t *testing.T, enc string, data []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return data
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

// text returns n bytes of compressible text.
func text(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "export const value%d = compute(%d, \"berth\");\n", i, i*7)
	}
	return []byte(b.String()[:n])
}

func hash32(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:32]
}

// TestStaticEncodings: a compressible file is sent as zstd, gzip or as it
// is, as Accept-Encoding asks, each variant with its own ETag and length,
// Vary on every answer; conditional GETs match per variant; ranges and
// HEAD keep working; small and already compressed files are never encoded.
func TestStaticEncodings(t *testing.T) {
	sh := newStaticHarness(t)
	js := text(20 << 10)
	big := text(300 << 10) // above memBodyMax: sent from the disk cache
	png := append([]byte("\x89PNG\r\n\x1a\n"), text(4<<10)...)
	files := map[string][]byte{
		"index.html":             []byte("<!doctype html><title>x</title>"),
		"assets/app-1a2b3c4d.js": js,
		"assets/big.js":          big,
		"logo.png":               png,
		"404.html":               text(4 << 10),
	}
	d := sh.deploy(t, sh.project(t, "site"), files, model.StateReady)
	host := d.PreviewHost + ".localhost"

	for _, tt := range []struct {
		name, path, accept, wantEnc string
		body                        []byte
	}{
		{"no Accept-Encoding", "/assets/app-1a2b3c4d.js", "", "", js},
		{"gzip", "/assets/app-1a2b3c4d.js", "gzip", "gzip", js},
		{"browser", "/assets/app-1a2b3c4d.js", "gzip, deflate, br, zstd", "zstd", js},
		{"zstd refused", "/assets/app-1a2b3c4d.js", "zstd;q=0, gzip", "gzip", js},
		{"gzip preferred by q", "/assets/app-1a2b3c4d.js", "zstd;q=0.5, gzip;q=0.9", "gzip", js},
		{"only unknown codings", "/assets/app-1a2b3c4d.js", "br, deflate", "", js},
		{"star", "/assets/app-1a2b3c4d.js", "*", "zstd", js},
		{"star with gzip refused", "/assets/app-1a2b3c4d.js", "gzip;q=0, *;q=0.1", "zstd", js},
		{"large file, gzip", "/assets/big.js", "gzip", "gzip", big},
		{"large file, identity", "/assets/big.js", "", "", big},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := sh.get(sh.h, "GET", host, tt.path, "Accept-Encoding", tt.accept)
			body := readBody(t, res)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.wantEnc {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEnc)
			}
			if res.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q", res.Header.Get("Vary"))
			}
			if res.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
				t.Errorf("Content-Length %s for %d bytes", res.Header.Get("Content-Length"), len(body))
			}
			if tt.wantEnc != "" && len(body) >= len(tt.body) {
				t.Errorf("%s body is %d bytes for %d", tt.wantEnc, len(body), len(tt.body))
			}
			if !bytes.Equal(decode(t, tt.wantEnc, body), tt.body) {
				t.Error("body does not decode to the file")
			}
			wantTag := `"` + hash32(tt.body)
			if tt.wantEnc != "" {
				wantTag += "-" + tt.wantEnc
			}
			if etag := res.Header.Get("ETag"); etag != wantTag+`"` {
				t.Errorf("ETag %s, want %s\"", etag, wantTag)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" && !strings.Contains(ct, "javascript") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}

	path := "/assets/app-1a2b3c4d.js"
	res := sh.get(sh.h, "GET", host, path, "Accept-Encoding", "gzip")
	gzTag := res.Header.Get("ETag")
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("hashed file Cache-Control %q", cc)
	}
	if res := sh.get(sh.h, "GET", host, path, "Accept-Encoding", "gzip", "If-None-Match", gzTag); res.StatusCode != 304 {
		t.Errorf("If-None-Match with the gzip ETag: %d, want 304", res.StatusCode)
	}
	if res := sh.get(sh.h, "GET", host, path, "Accept-Encoding", "zstd", "If-None-Match", gzTag); res.StatusCode != 200 ||
		res.Header.Get("Content-Encoding") != "zstd" {
		t.Errorf("If-None-Match with another variant's ETag: %d %q, want the zstd variant", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	idTag := `"` + hash32(js) + `"`
	if res := sh.get(sh.h, "GET", host, path, "If-None-Match", idTag); res.StatusCode != 304 {
		t.Errorf("If-None-Match with the identity ETag: %d, want 304", res.StatusCode)
	}
	res = sh.get(sh.h, "GET", host, path, "Accept-Encoding", "gzip", "Range", "bytes=10-19")
	if body := readBody(t, res); res.StatusCode != 206 || res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, js[10:20]) {
		t.Errorf("range: %d %q %q", res.StatusCode, res.Header.Get("Content-Encoding"), body)
	}
	res = sh.get(sh.h, "GET", host, "/assets/big.js", "Range", "bytes=200000-200009")
	if body := readBody(t, res); res.StatusCode != 206 || !bytes.Equal(body, big[200000:200010]) {
		t.Errorf("range of a large file: %d %q", res.StatusCode, body)
	}
	res = sh.get(sh.h, "HEAD", host, path, "Accept-Encoding", "gzip")
	if body := readBody(t, res); res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Encoding") != "gzip" ||
		res.Header.Get("Content-Length") == fmt.Sprint(len(js)) {
		t.Errorf("HEAD: %d, %d bytes, %q, length %s", res.StatusCode, len(body), res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"))
	}

	for _, p := range []string{"/", "/logo.png"} {
		res := sh.get(sh.h, "GET", host, p, "Accept-Encoding", "gzip, zstd")
		if res.Header.Get("Content-Encoding") != "" || res.Header.Get("Vary") != "" {
			t.Errorf("%s: Content-Encoding %q, Vary %q: want neither", p, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
		}
	}
	res = sh.get(sh.h, "GET", host, "/missing", "Accept-Encoding", "gzip")
	if body := readBody(t, res); res.StatusCode != 404 || res.Header.Get("Content-Encoding") != "gzip" ||
		!bytes.Equal(decode(t, "gzip", body), files["404.html"]) || res.Header.Get("Cache-Control") != cacheRevalidate {
		t.Errorf("site 404 page: %d %q %q", res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"))
	}

	// The compressed variants are kept in the disk cache: a new handler on
	// the same cache serves them without compressing again.
	sum := sha256.Sum256(js)
	obj := filepath.Join(sh.cache, "objects", hex.EncodeToString(sum[:1]), hex.EncodeToString(sum[:]))
	for _, suffix := range []string{".gz", ".zst"} {
		fi, err := os.Stat(obj + suffix)
		if err != nil {
			t.Fatalf("compressed variant not in the disk cache: %v", err)
		}
		mtime := fi.ModTime()
		h2 := sh.handler(t, 0)
		sh.get(h2, "GET", host, path, "Accept-Encoding", "gzip, zstd")
		if fi, err := os.Stat(obj + suffix); err != nil || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s variant written again by a new handler", suffix)
		}
	}
}

// TestHostCache: settled deployments are served without a lookup per
// request; a deployment still building is looked up every time (so it is
// served the moment it is ready); Invalidate makes a promotion visible at
// once.
func TestHostCache(t *testing.T) {
	sh := newStaticHarness(t)
	ctx := context.Background()
	p := sh.project(t, "shop")
	a := sh.deploy(t, p, map[string][]byte{"index.html": []byte("version A")}, model.StateReady)
	b := sh.deploy(t, p, map[string][]byte{"index.html": []byte("version B")}, model.StateReady)
	if _, err := sh.db.SetProductionDeployment(ctx, p.ID, a.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	body := func(host string) string {
		res := sh.get(sh.h, "GET", host, "/")
		return fmt.Sprintf("%d %s", res.StatusCode, readBody(t, res))
	}
	if got := body("shop.localhost"); got != "200 version A" {
		t.Fatalf("production host: %s", got)
	}
	if _, err := sh.db.SetProductionDeployment(ctx, p.ID, b.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	if got := body("shop.localhost"); got != "200 version A" {
		t.Fatalf("within the TTL the cached answer stands, got %s", got)
	}
	sh.h.Invalidate()
	if got := body("shop.localhost:8080"); got != "200 version B" {
		t.Fatalf("after Invalidate: %s", got)
	}

	building := sh.deploy(t, p, map[string][]byte{"index.html": []byte("version C")}, model.StateBuilding)
	host := building.PreviewHost + ".localhost"
	if res := sh.get(sh.h, "GET", host, "/"); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("building: %d", res.StatusCode)
	}
	sh.transition(t, building.ID, model.StateUploading)
	sh.transition(t, building.ID, model.StateReady)
	if got := body(host); got != "200 version C" {
		t.Fatalf("ready right after building: %s", got)
	}

	// Expiry: a change nobody reported shows after the TTL.
	if _, err := sh.db.SetProductionDeployment(ctx, p.ID, a.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(hostTTL + 50*time.Millisecond)
	if got := body("shop.localhost"); got != "200 version A" {
		t.Fatalf("after the TTL: %s", got)
	}
}

// TestHotCacheEviction: past its byte budget the cache drops the least
// recently used files, and a dropped file is served again from disk.
func TestHotCacheEviction(t *testing.T) {
	sh := newStaticHarness(t)
	h := sh.handler(t, 100<<10)
	files := map[string][]byte{}
	for i := range 8 {
		files[fmt.Sprintf("f%d.bin", i)] = bytes.Repeat([]byte{byte('a' + i)}, 30<<10) // 30 KB, compressible
	}
	d := sh.deploy(t, sh.project(t, "evict"), files, model.StateReady)
	host := d.PreviewHost + ".localhost"
	for round := range 3 {
		for i := range 8 {
			name := fmt.Sprintf("f%d.bin", i)
			res := sh.get(h, "GET", host, "/"+name)
			if body := readBody(t, res); !bytes.Equal(body, files[name]) {
				t.Fatalf("round %d: %s served wrong bytes", round, name)
			}
			if got := h.files.hotFiles.bytes(); got > 100<<10 {
				t.Fatalf("memory cache holds %d bytes, over its 100 KB budget", got)
			}
		}
	}
	// f7 was used last: it must still be in memory, f0 not.
	hc := h.files.hotFiles
	sumOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	hc.mu.RLock()
	_, last := hc.files[sumOf(files["f7.bin"])]
	_, first := hc.files[sumOf(files["f0.bin"])]
	hc.mu.RUnlock()
	if !last || first {
		t.Errorf("least recently used order not kept: f7 cached %v, f0 cached %v", last, first)
	}
}

func TestNegotiate(t *testing.T) {
	all := [numEncodings]bool{true, true, true}
	gzOnly := [numEncodings]bool{true, true, false}
	none := [numEncodings]bool{true, false, false}
	for _, tt := range []struct {
		accept string
		have   *[numEncodings]bool
		want   encoding
	}{
		{"", &all, encIdentity},
		{"gzip", &all, encGzip},
		{"GZIP", &all, encGzip},
		{"x-gzip", &all, encGzip},
		{"zstd", &all, encZstd},
		{"gzip, zstd", &all, encZstd},
		{"gzip, zstd", &gzOnly, encGzip},
		{"gzip, zstd", &none, encIdentity},
		{"zstd;q=0.1, gzip", &all, encGzip},
		{"zstd; q=0 , gzip ;q=0", &all, encIdentity},
		{"*", &all, encZstd},
		{"*;q=0", &all, encIdentity},
		{"gzip;q=0.8, *;q=0.9", &all, encZstd},
		{"zstd;q=bogus", &all, encZstd},
		{"identity", &all, encIdentity},
		{"br", &all, encIdentity},
	} {
		if got := negotiate(tt.accept, tt.have); got != tt.want {
			t.Errorf("negotiate(%q) = %s, want %s", tt.accept, encodingNames[got], encodingNames[tt.want])
		}
	}
}

// BenchmarkServeStatic measures the hot path: a cached host, a file in
// memory.
func BenchmarkServeStatic(b *testing.B) {
	sh := newStaticHarness(b)
	d := sh.deploy(b, sh.project(b, "bench"), map[string][]byte{"app.js": text(10 << 10)}, model.StateReady)
	req := httptest.NewRequest("GET", "http://"+d.PreviewHost+".localhost/app.js", nil)
	w := &discardWriter{h: http.Header{}}
	sh.h.ServeHTTP(w, req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		sh.h.ServeHTTP(w, req)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
