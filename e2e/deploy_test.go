package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// TestDeployViteApp deploys create-vite's vanilla template out of a local git
// repository and fetches its page and hashed script through the preview
// host, once with local-directory artifacts and once with MinIO.
func TestDeployViteApp(t *testing.T) {
	requireEnv(t)
	t.Run("local", func(t *testing.T) {
		dataDir := t.TempDir()
		b := startBerth(t, dataDir, "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
		d := deployVite(t, b)
		entries, err := filepath.Glob(filepath.Join(dataDir, "artifacts", "deployments", d.ID, "files", "assets", "*.js"))
		if err != nil || len(entries) == 0 {
			t.Fatalf("no JS asset under the local artifact directory (err %v)", err)
		}
	})
	t.Run("minio", func(t *testing.T) {
		requireEnv(t, "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
		bucket := "berth-e2e-" + strings.ToLower(store.NewID(4))
		b := startBerth(t, t.TempDir(),
			"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
			"BERTH_S3_ENDPOINT="+os.Getenv("BERTH_TEST_S3_ENDPOINT"),
			"BERTH_S3_ACCESS_KEY="+os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
			"BERTH_S3_SECRET_KEY="+os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
			"BERTH_S3_BUCKET="+bucket,
		)
		d := deployVite(t, b)
		mc, err := minio.New(os.Getenv("BERTH_TEST_S3_ENDPOINT"), &minio.Options{
			Creds: credentials.NewStaticV4(os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), os.Getenv("BERTH_TEST_S3_SECRET_KEY"), ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for obj := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "deployments/" + d.ID + "/", Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			n++
		}
		if n < 3 {
			t.Fatalf("MinIO bucket %s holds %d objects for the deployment; want the files and the manifest", bucket, n)
		}
	})
}

var scriptRe = regexp.MustCompile(`<script[^>]+src="(/assets/[^"]+\.js)"`)

// deployVite creates a project from the vanilla template, deploys it,
// follows the log stream to the end, and checks what the preview serves.
func deployVite(t *testing.T, b *berthProc) deployment {
	repo := makeRepo(t, fixture(t, "create-vite/template-vanilla"))
	var p struct {
		ID string `json:"id"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "Vite app", "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: status %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted || d.State != "queued" {
		t.Fatalf("create deployment: status %d, %+v", code, d)
	}

	// Follow the build log live until "done".
	req, _ := http.NewRequest(http.MethodGet, b.url("/v1/deployments/"+d.ID+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("logs content type %q", ct)
	}
	var lines []string
	var done struct{ State, Error string }
	lastID := 0
	err = readSSE(resp.Body, func(ev sseEvent) {
		switch ev.Event {
		case "log":
			var l struct {
				Line int    `json:"line"`
				Text string `json:"text"`
			}
			json.Unmarshal([]byte(ev.Data), &l)
			if l.Line != lastID+1 || ev.ID != itoa(l.Line) {
				t.Errorf("log line numbers out of order: id %s line %d after %d", ev.ID, l.Line, lastID)
			}
			lastID = l.Line
			lines = append(lines, l.Text)
		case "done":
			json.Unmarshal([]byte(ev.Data), &done)
		}
	})
	if err != nil {
		t.Fatalf("read log stream: %v", err)
	}
	log := strings.Join(lines, "\n")
	if done.State != "ready" {
		t.Fatalf("deployment finished %q (%s); log:\n%s", done.State, done.Error, log)
	}
	for _, want := range []string{"Install: npm install", "Build: npm run build", "vite", "built in", "Uploaded"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}

	b.api(http.MethodGet, "/v1/deployments/"+d.ID, nil, &d)
	if d.State != "ready" || d.OutputType != "static" || len(d.CommitSHA) != 40 {
		t.Fatalf("deployment after build: %+v", d)
	}
	host := d.PreviewHost + ".localhost"
	if !strings.HasPrefix(d.URL, "http://"+host+":") {
		t.Errorf("preview URL %q does not use host %s", d.URL, host)
	}

	res, body := b.getHost(host+":8080", "/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / on preview: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	m := scriptRe.FindSubmatch(body)
	if m == nil {
		t.Fatalf("index.html has no hashed script:\n%s", body)
	}
	if cc := res.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("index.html must revalidate, got Cache-Control %q", cc)
	}
	etag := res.Header.Get("ETag")
	if res, _ := b.getHost(host, "/", "If-None-Match", etag); etag == "" || res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET with ETag %q: status %d, want 304", etag, res.StatusCode)
	}

	res, js := b.getHost(host, string(m[1]))
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || len(js) == 0 {
		t.Fatalf("GET %s: %d %q, %d bytes", m[1], res.StatusCode, res.Header.Get("Content-Type"), len(js))
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("hashed asset %s: Cache-Control %q, want immutable", m[1], cc)
	}
	if res, _ := b.getHost(host, "/favicon.svg"); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("GET /favicon.svg (from public/): %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res, body := b.getHost(host, "/no/such/page"); res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "<html") {
		t.Errorf("missing page: %d, want an HTML 404", res.StatusCode)
	}
	if res, _ := b.getHost(host, "/../../etc/passwd"); res.StatusCode != http.StatusNotFound {
		t.Errorf("path traversal: %d, want 404", res.StatusCode)
	}
	// A production branch deploy is promoted: the project host serves it too.
	if res, _ := b.getHost("vite-app.localhost", "/"); res.StatusCode != http.StatusOK {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}
	return d
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
