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
