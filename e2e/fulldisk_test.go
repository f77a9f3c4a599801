package e2e

import (
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// TestFullDisk gives the local artifact directory a small filesystem of
// its own (a tmpfs the test mounts): a deployment that fits is served; one
// whose upload meets ENOSPC ends in error with a sentence saying the disk
// is full, and berth keeps serving and building.
func TestFullDisk(t *testing.T) {
	requireEnv(t)
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs and needs root (the test suite runs as root)")
	}
	dataDir := t.TempDir()
	art := filepath.Join(dataDir, "artifacts")
	if err := os.MkdirAll(art, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", art).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	// Registered before berth starts, so it runs after berth stops.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", art).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", art, err, out)
		}
	})
	b := startBerth(t, dataDir, "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))

	repo := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(repo, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deploy := func(projectID string) deployment {
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+projectID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy: %d", code)
		}
		return b.waitState(d.ID, 5*time.Minute, terminal)
	}
	write("index.html", []byte("<h1>small</h1>"))
	commitAll(t, repo, "Small", true)
	var p struct {
		ID string `json:"id"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "full", "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	small := deploy(p.ID)
	if small.State != "ready" {
		t.Fatalf("small deployment: %s (%s)", small.State, small.Error)
	}

	big := make([]byte, 2<<20) // four times the filesystem
	rand.Read(big)
	write("big.bin", big)
	commitAll(t, repo, "Big", false)
	failed := deploy(p.ID)
	if failed.State != "error" || !strings.HasPrefix(failed.Error, "the disk of the data directory is full (") ||
		!strings.Contains(failed.Error, " free)") {
		t.Fatalf("deployment on a full disk: %s %q; want error with the sentence", failed.State, failed.Error)
	}
	if log := b.plainLog(failed.ID); !strings.Contains(log, "the disk of the data directory is full") {
		t.Errorf("the build log does not say the disk is full:\n%s", log)
	}
	// What the failed upload stored is gone: the space is free again.
	if entries, err := os.ReadDir(filepath.Join(art, "deployments", failed.ID)); err == nil && len(entries) > 0 {
		t.Errorf("the failed deployment left %d entries in the artifact directory", len(entries))
	}

	// berth keeps serving what it had, and builds what fits.
	for _, host := range []string{small.PreviewHost + ".localhost", "full.localhost"} {
		if res, body := b.getHost(host, "/"); res.StatusCode != http.StatusOK || string(body) != "<h1>small</h1>" {
			t.Errorf("%s after the full disk: %d %q", host, res.StatusCode, body)
		}
	}
	if err := os.Remove(filepath.Join(repo, "big.bin")); err != nil {
		t.Fatal(err)
	}
	write("index.html", []byte("<h1>small again</h1>"))
	commitAll(t, repo, "Small again", false)
	if again := deploy(p.ID); again.State != "ready" {
		t.Fatalf("a deployment that fits, after the full disk: %s (%s)", again.State, again.Error)
	}
	// The promotion follows the stored "ready" state: wait for it.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		res, body := b.getHost("full.localhost", "/")
		if res.StatusCode == http.StatusOK && string(body) == "<h1>small again</h1>" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("production after the full disk: %d %q", res.StatusCode, body)
		}
	}
}

// TestArtifactStoreRefuses removes berth's MinIO bucket while berth runs:
// the next build fails with a sentence saying the artifact store refused
// the upload, and the deployment served before keeps being served (from
// the disk cache).
func TestArtifactStoreRefuses(t *testing.T) {
	requireEnv(t, "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
	bucket := "berth-e2e-refuse-" + strings.ToLower(store.NewID(4))
	mc, err := minio.New(os.Getenv("BERTH_TEST_S3_ENDPOINT"), &minio.Options{
		Creds: credentials.NewStaticV4(os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), os.Getenv("BERTH_TEST_S3_SECRET_KEY"), ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeBucket(mc, bucket) })
	b := startBerth(t, t.TempDir(),
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_S3_ENDPOINT="+os.Getenv("BERTH_TEST_S3_ENDPOINT"),
		"BERTH_S3_ACCESS_KEY="+os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
		"BERTH_S3_SECRET_KEY="+os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
		"BERTH_S3_BUCKET="+bucket,
	)
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("<h1>before</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "Before", true)
	var p struct {
		ID string `json:"id"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "refused", "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	deploy := func() deployment {
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy: %d", code)
		}
		return b.waitState(d.ID, 5*time.Minute, terminal)
	}
	before := deploy()
	if before.State != "ready" {
		t.Fatalf("first deployment: %s (%s)", before.State, before.Error)
	}
	// Production follows ready: the promotion is applied after the state.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		res, body := b.getHost("refused.localhost", "/")
		if res.StatusCode == http.StatusOK && string(body) == "<h1>before</h1>" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("production before: %d %q", res.StatusCode, body)
		}
	}

	removeBucket(mc, bucket)
	if ok, err := mc.BucketExists(t.Context(), bucket); ok || err != nil {
		t.Fatalf("bucket still there (%v)", err)
	}
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("<h1>after</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "After", false)
	after := deploy()
	if after.State != "error" || !strings.HasPrefix(after.Error, "the artifact store refused the upload: ") ||
		!strings.Contains(after.Error, "bucket does not exist") {
		t.Fatalf("deployment with the bucket gone: %s %q; want error with the sentence", after.State, after.Error)
	}
	if res, body := b.getHost("refused.localhost", "/"); res.StatusCode != http.StatusOK || string(body) != "<h1>before</h1>" {
		t.Errorf("production after the store refused: %d %q", res.StatusCode, body)
	}
}
