package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/model"
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
