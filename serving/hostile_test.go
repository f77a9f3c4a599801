package serving

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// putManifest replaces a deployment's manifest with raw JSON, as someone
// with write access to the bucket could.
func (sh *staticHarness) putManifest(t *testing.T, deploymentID string, files map[string]any) {
	t.Helper()
	data, err := json.Marshal(map[string]any{"output_type": "static", "files": files})
	if err != nil {
		t.Fatal(err)
	}
	key := "deployments/" + deploymentID + "/" + model.ManifestName
	if err := sh.st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), "application/json"); err != nil {
		t.Fatal(err)
	}
}

// traversalHash is a 64-character "hash" that, joined under the cache's
// objects folder as objects/<h[:2]>/<h>, names target: with h[:2] == ".."
// that is cacheDir/<h>.
func traversalHash(t *testing.T, cacheDir, target string) string {
	t.Helper()
	rel, err := filepath.Rel(cacheDir, target)
	if err != nil || !strings.HasPrefix(rel, "../") {
		t.Fatalf("target %s is not above the cache %s", target, cacheDir)
	}
	rest := rel[len("../"):]
	pad := 64 - len("../") - len(rest)
	if pad < 0 {
		t.Fatalf("path to %s too long for a 64-byte hash", target)
	}
	h := "../" + strings.Repeat("/", pad%2) + strings.Repeat("./", pad/2) + rest
	if len(h) != 64 || filepath.Join(cacheDir, h) != target {
		t.Fatalf("traversal %q does not name %s", h, target)
	}
	return h
}

// TestManifestTraversal: a manifest whose hash or name climbs out of the
// cache or the deployment is refused: the deployment answers an error page
// on both paths and the file outside is never sent.
func TestManifestTraversal(t *testing.T) {
	sh := newStaticHarness(t)
	secret := []byte("instance secret key material")
	secretPath := filepath.Join(filepath.Dir(sh.cache), "secret.key")
	if err := os.WriteFile(secretPath, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	p := sh.project(t, "shop")
	for _, tt := range []struct {
		name  string
		files map[string]any
	}{
		{"hash climbs out of the cache", map[string]any{"leak.txt": map[string]any{"size": len(secret), "sha256": traversalHash(t, sh.cache, secretPath)}}},
		{"uppercase hash", map[string]any{"leak.txt": map[string]any{"size": 1, "sha256": strings.Repeat("A", 64)}}},
		{"name climbs out", map[string]any{"../../x/leak.txt": map[string]any{"size": 1, "sha256": strings.Repeat("a", 64)}}},
		{"absolute name", map[string]any{"/leak.txt": map[string]any{"size": 1, "sha256": strings.Repeat("a", 64)}}},
		{"double slash", map[string]any{"a//leak.txt": map[string]any{"size": 1, "sha256": strings.Repeat("a", 64)}}},
		{"backslash", map[string]any{`a\..\leak.txt`: map[string]any{"size": 1, "sha256": strings.Repeat("a", 64)}}},
		{"NUL", map[string]any{"leak.txt\x00": map[string]any{"size": 1, "sha256": strings.Repeat("a", 64)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := sh.deploy(t, p, map[string][]byte{"index.html": []byte("<h1>shop</h1>")}, model.StateReady)
			sh.putManifest(t, d.ID, tt.files)
			h := sh.handler(t, 0) // a fresh process: no manifest in memory
			host := d.PreviewHost + ".localhost"
			for name := range tt.files {
				res := sh.get(h, "GET", host, "/leak.txt")
				body := readBody(t, res)
				if bytes.Contains(body, secret) {
					t.Fatalf("the file outside the cache was served for %q", name)
				}
				if res.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte("manifest is invalid")) {
					t.Fatalf("GET /leak.txt: %d %q, want 502 saying the manifest is invalid", res.StatusCode, body)
				}
			}
			// Nothing of the deployment is served, not even its real files.
			if res := sh.get(h, "GET", host, "/"); res.StatusCode != http.StatusBadGateway {
				t.Fatalf("GET /: %d, want 502", res.StatusCode)
			}
		})
	}
}

// TestDotfilesNotServed: a hand-written site's dotfiles (.env.staging,
// .npmrc, .git/config) answer 404 on both paths, with the site's own 404
// page; .well-known/ is served.
func TestDotfilesNotServed(t *testing.T) {
	sh := newStaticHarness(t)
	files := map[string][]byte{
		"index.html":               []byte("<h1>home</h1>"),
		"404.html":                 []byte("<h1>lost</h1>"),
		".env.staging":             []byte("DATABASE_URL=postgres://secret"),
		".npmrc":                   []byte("//registry.npmjs.org/:_authToken=secret"),
		".git/config":              []byte("[remote] url = https://token:secret@example.invalid/x.git"),
		"sub/.htpasswd":            []byte("admin:secret"),
		".well-known/security.txt": []byte("Contact: mailto:security@example.invalid"),
	}
	d := sh.deploy(t, sh.project(t, "plain"), files, model.StateReady)
	host := d.PreviewHost + ".localhost"
	for _, p := range []string{"/.env.staging", "/.npmrc", "/.git/config", "/sub/.htpasswd", "/.git/", "/.env.staging/"} {
		res := sh.get(sh.h, "GET", host, p)
		if body := readBody(t, res); res.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("secret")) {
			t.Errorf("ServeHTTP %s: %d %q, want the 404 page", p, res.StatusCode, body)
		}
		var resp fastpath.Response
		if sh.h.ServeFast(&fastpath.Request{Host: host, Path: p}, &resp) {
			t.Errorf("ServeFast answered %s", p)
		}
	}
	res := sh.get(sh.h, "GET", host, "/.well-known/security.txt")
	if body := readBody(t, res); res.StatusCode != http.StatusOK || !bytes.Equal(body, files[".well-known/security.txt"]) {
		t.Errorf(".well-known/security.txt: %d %q", res.StatusCode, body)
	}
	var resp fastpath.Response
	if !sh.h.ServeFast(&fastpath.Request{Host: host, Path: "/.well-known/security.txt"}, &resp) {
		t.Error("ServeFast declined .well-known/security.txt")
	}
}

// TestImmutableOnlyForBuildAssets: a year of immutable caching only for
// hashed names in build tools' asset folders, never for HTML or for a
// hand-written site's dated photo.
func TestImmutableOnlyForBuildAssets(t *testing.T) {
	for _, tt := range []struct {
		name      string
		immutable bool
	}{
		{"assets/index-BxYz12Ab.js", true},
		{"assets/app-1a2b3c4d.js", true},
		{"assets/index-Dq4F_x-k.css", true},
		{"_next/static/chunks/main-app.js", true},
		{"_next/static/Ab12Cd34/_buildManifest.js", true},
		{"_app/immutable/entry/start.js", true},
		{"_astro/index.CxYz12Ab.js", true},
		{"_nuxt/entry.B7aF9c2d.js", true},
		{"_nuxt/B7UzWBCh.js", true},
		{"_nuxt/3xL-nTBy.js", true},
		{"_nuxt/DDeD322b.js", true},
		{"static/js/main.1a2b3c4d.js", true},
		{"static/js/453.9f8e7d6c.chunk.js", true},
		{"static/css/main.e6c13ad2.css", true},

		{"photo-20240101.jpg", false},
		{"assets/photo-20240101.jpg", false},
		{"images/photo-20240101120000.jpg", false},
		{"index-BxYz12Ab.js", false}, // not in an asset folder
		{"assets/logo.png", false},
		{"assets/page-BxYz12Ab.html", false},
		{"_next/static/page.html", false},
		{"about.html", false},
		{"index.html", false},
		{"_nuxt/builds/latest.json", false},
		{"_nuxt/favicon.png", false},
		{"_nuxt/20240101.png", false},
		{"assets/B7UzWBCh.js", false},
		{"assets/chapter-12345678.pdf", false},
	} {
		if got := isHashed(tt.name); got != tt.immutable {
			t.Errorf("isHashed(%q) = %v, want %v", tt.name, got, tt.immutable)
		}
	}
	sh := newStaticHarness(t)
	files := map[string][]byte{"index.html": []byte("<h1>x</h1>"), "photo-20240101.jpg": []byte("\xff\xd8\xff jpeg"),
		"assets/index-BxYz12Ab.js": []byte("console.log(1)")}
	d := sh.deploy(t, sh.project(t, "photos"), files, model.StateReady)
	host := d.PreviewHost + ".localhost"
	for p, want := range map[string]string{"/": cacheRevalidate, "/photo-20240101.jpg": cacheRevalidate, "/assets/index-BxYz12Ab.js": cacheImmutable} {
		if cc := sh.get(sh.h, "GET", host, p).Header.Get("Cache-Control"); cc != want {
			t.Errorf("%s: Cache-Control %q, want %q", p, cc, want)
		}
	}
}

// TestNetHTTPStalledReaderCutOff: on the net/http path too (an HTTP/1.0
// GET, a range), a client that stops reading a large file loses its
// connection after the write timeout; the deadline does not outlive the
// answer on a kept-alive connection.
func TestNetHTTPStalledReaderCutOff(t *testing.T) {
	sh := newStaticHarness(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MB
	d := sh.deploy(t, sh.project(t, "big"), map[string][]byte{"big.bin": big, "a.txt": []byte("hello")}, model.StateReady)
	h, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache, WriteTimeout: 300 * time.Millisecond}, sh.db, sh.st, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{}, 10)
	srv := &http.Server{Handler: Router(h, http.NotFoundHandler()), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	host := d.PreviewHost + ".localhost"
	for _, req := range []string{
		"GET /big.bin HTTP/1.0\r\nHost: " + host + "\r\n\r\n",
		"GET /big.bin HTTP/1.1\r\nHost: " + host + "\r\nRange: bytes=100-\r\n\r\n",
	} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprint(c, req)
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("%q: the stalled connection is still open 30s on", strings.SplitN(req, "\r\n", 2)[0])
		}
	}

	// A file, then, past its write deadline, an API request on the same
	// connection: the API's answer (an SSE stream, say) is not cut off by
	// the file's deadline.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: "+host+"\r\nRange: bytes=0-\r\n\r\n")
	res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	time.Sleep(500 * time.Millisecond)                                    // past the first answer's write deadline
	fmt.Fprint(c, "GET /v1/anything HTTP/1.1\r\nHost: localhost\r\n\r\n") // the API's host
	if res, err := http.ReadResponse(br, &http.Request{Method: "GET"}); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("next request on the connection: %v %v", res, err)
	}
}

// TestConnectionCap: past MaxConns open connections, a new one waits
// until one ends.
func TestConnectionCap(t *testing.T) {
	sh := newStaticHarness(t)
	d := sh.deploy(t, sh.project(t, "cap"), map[string][]byte{"a.txt": []byte("hello")}, model.StateReady)
	h, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache, MaxConns: 2}, sh.db, sh.st, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := Open(l, h, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	req := "GET /a.txt HTTP/1.1\r\nHost: " + d.PreviewHost + ".localhost\r\n\r\n"
	get := func(c net.Conn, br *bufio.Reader, wait time.Duration) error {
		c.SetReadDeadline(time.Now().Add(wait))
		fmt.Fprint(c, req)
		res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err == nil {
			io.Copy(io.Discard, res.Body)
		}
		return err
	}
	var held []net.Conn
	for range 2 { // both answered and kept alive: the cap is reached
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c, bufio.NewReader(c), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	c3, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	br3 := bufio.NewReader(c3)
	if err := get(c3, br3, 300*time.Millisecond); err == nil {
		t.Fatal("a third connection was served past the cap of 2")
	}
	held[0].Close()
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br3, &http.Request{Method: "GET"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after one connection ended, the waiting one: %v %v", res, err)
	}
}

// cacheBytes is the size of the files in the disk cache.
func cacheBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestDiskCacheCapped: the disk cache of served files stays under its cap,
// the least recently used files going first, and a pruned file is fetched
// again when it is asked for.
func TestDiskCacheCapped(t *testing.T) {
	sh := newStaticHarness(t)
	files := map[string][]byte{}
	for i := range 10 {
		b := make([]byte, 100<<10)
		rand.Read(b) // incompressible: one file on disk each
		files[fmt.Sprintf("f%d.png", i)] = b
	}
	d := sh.deploy(t, sh.project(t, "photos"), files, model.StateReady)
	const limit = 350 << 10
	h, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache, DiskCacheBytes: limit, MemoryCacheBytes: 1}, sh.db, sh.st, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	host := d.PreviewHost + ".localhost"
	get := func(name string) {
		t.Helper()
		res := sh.get(h, "GET", host, "/"+name)
		if body := readBody(t, res); res.StatusCode != 200 || !bytes.Equal(body, files[name]) {
			t.Fatalf("%s: %d, %d bytes", name, res.StatusCode, len(body))
		}
	}
	for i := range 10 {
		get(fmt.Sprintf("f%d.png", i))
		if n := cacheBytes(t, sh.cache); n > limit {
			t.Fatalf("after f%d the disk cache holds %d bytes, over its cap of %d", i, n, limit)
		}
	}
	inCache := func(name string) bool {
		sum := sha256.Sum256(files[name])
		sha := hex.EncodeToString(sum[:])
		_, err := os.Stat(filepath.Join(sh.cache, "objects", sha[:2], sha))
		return err == nil
	}
	if !inCache("f9.png") || inCache("f0.png") {
		t.Fatalf("least recently used order not kept: f9 cached %v, f0 cached %v", inCache("f9.png"), inCache("f0.png"))
	}
	get("f0.png") // pruned: fetched again
	if !inCache("f0.png") {
		t.Fatal("f0 not fetched again")
	}
	// A new process over the same cache prunes at start.
	if _, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache, DiskCacheBytes: 150 << 10}, sh.db, sh.st, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if n := cacheBytes(t, sh.cache); n > 150<<10 {
		t.Fatalf("after a start with a 150 KB cap the cache holds %d bytes", n)
	}
}

// TestDeletedDeploymentFilesRemoved: when a deployment is deleted, its
// cached files go, except those a deployment still served shares.
func TestDeletedDeploymentFilesRemoved(t *testing.T) {
	sh := newStaticHarness(t)
	shared := []byte("shared between both deployments")
	gone := map[string][]byte{"index.html": shared, "only.txt": []byte("only in the deleted one")}
	kept := map[string][]byte{"index.html": shared, "other.txt": []byte("only in the kept one")}
	dGone := sh.deploy(t, sh.project(t, "gone"), gone, model.StateReady)
	dKept := sh.deploy(t, sh.project(t, "kept"), kept, model.StateReady)
	h, err := New(Config{AppDomain: "localhost", CacheDir: sh.cache}, sh.db, sh.st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*store.Deployment{dGone, dKept} {
		for _, name := range []string{"/", "/only.txt", "/other.txt"} {
			readBody(t, sh.get(h, "GET", d.PreviewHost+".localhost", name))
		}
	}
	cached := func(b []byte) bool {
		sum := sha256.Sum256(b)
		sha := hex.EncodeToString(sum[:])
		_, err := os.Stat(filepath.Join(sh.cache, "objects", sha[:2], sha))
		return err == nil
	}
	if !cached(gone["only.txt"]) || !cached(shared) {
		t.Fatal("the files were not cached to begin with: the test proves nothing")
	}
	h.Forget([]string{dGone.ID})
	if n := h.ForgetFiles(t.Context(), []string{dGone.ID}); n <= 0 {
		t.Errorf("ForgetFiles freed %d bytes", n)
	}
	if cached(gone["only.txt"]) {
		t.Error("the deleted deployment's own file is still cached")
	}
	if !cached(shared) || !cached(kept["other.txt"]) {
		t.Error("a file the kept deployment serves was removed")
	}
	res := sh.get(h, "GET", dKept.PreviewHost+".localhost", "/")
	if body := readBody(t, res); res.StatusCode != 200 || !bytes.Equal(body, shared) {
		t.Errorf("the kept deployment: %d %q", res.StatusCode, body)
	}
}
