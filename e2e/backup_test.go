package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// TestBackupAndRestore deploys a small static site to production with
// MinIO artifacts, backs berth up to the bucket while it runs (and while a
// deployment is being created), restores the backup into a fresh data
// directory and starts a second berth on it with the same bucket: the
// project serves the same page on its host, and its env vars, deployments
// and API key are all there.
func TestBackupAndRestore(t *testing.T) {
	requireEnv(t, "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
	bucket := "berth-e2e-backup-" + strings.ToLower(store.NewID(4))
	s3env := []string{
		"BERTH_S3_ENDPOINT=" + os.Getenv("BERTH_TEST_S3_ENDPOINT"),
		"BERTH_S3_ACCESS_KEY=" + os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
		"BERTH_S3_SECRET_KEY=" + os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
		"BERTH_S3_BUCKET=" + bucket,
	}
	t.Cleanup(func() { removeTestBucket(t, bucket) })
	env := append([]string{"BERTH_EXTRA_CA_FILE=" + os.Getenv("BERTH_EXTRA_CA_FILE")}, s3env...)
	dir1 := t.TempDir()
	b1 := startBerth(t, dir1, env...)

	p, d := deployKeptSite(t, b1)
	var key struct {
		Token string `json:"token"`
	}
	if code := b1.api(http.MethodPost, "/v1/api-keys", map[string]string{"name": "ci"}, &key); code != http.StatusCreated || key.Token == "" {
		t.Fatalf("create API key: %d %+v", code, key)
	}
	host := p.Slug + ".localhost"

	// The backup runs beside the live berth while a deployment is created.
	archive := filepath.Join(t.TempDir(), "berth.tar.gz")
	var wg sync.WaitGroup
	var inflight deployment
	wg.Add(1)
	go func() {
		defer wg.Done()
		if code := b1.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &inflight); code != http.StatusAccepted {
			t.Errorf("deploy during the backup: %d", code)
		}
	}()
	// To the same bucket as the artifacts, with the same BERTH_S3_* settings.
	remote := "s3://" + bucket + "/backups/live.tar.gz"
	out, err := berthCommand(s3env, "backup", "-data-dir", dir1, remote)
	wg.Wait()
	if err != nil {
		t.Fatalf("berth backup %s: %v\n%s", remote, err, out)
	}
	if out, err := berthCommand(nil, "backup", "-data-dir", dir1, archive); err != nil {
		t.Fatalf("berth backup: %v\n%s", err, out)
	}
	if info, err := os.Stat(archive); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v (%v), want mode 600", info, err)
	}
	// The first machine is gone.
	b1.stop()

	// restore refuses a data directory that holds anything.
	out, err = berthCommand([]string{"BERTH_DATA_DIR=" + dir1}, "restore", archive)
	if err == nil || !strings.Contains(out, "not empty") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("restore into the old data dir: %v\n%s", err, out)
	}
	dir2 := filepath.Join(t.TempDir(), "data")
	if out, err := berthCommand(append([]string{"BERTH_DATA_DIR=" + dir2}, s3env...), "restore", remote); err != nil {
		t.Fatalf("berth restore %s: %v\n%s", remote, err, out)
	}
	// The restored berth also takes scheduled backups, every second here.
	scheduled := t.TempDir()
	b2 := startBerth(t, dir2, append(env, "BERTH_BACKUP_TARGET="+scheduled, "BERTH_BACKUP_INTERVAL=1s", "BERTH_BACKUP_KEEP=2")...)
	res, body := b2.getHost(host, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "restored-greeting-1234") {
		t.Fatalf("restored production host: %d %q", res.StatusCode, body)
	}
	var envs []struct {
		Key    string `json:"key"`
		Target string `json:"target"`
	}
	b2.api(http.MethodGet, "/v1/projects/"+p.ID+"/env", nil, &envs)
	var keys []string
	for _, e := range envs {
		keys = append(keys, e.Key+"/"+e.Target)
	}
	if got := strings.Join(keys, " "); !strings.Contains(got, "GREETING/build") || !strings.Contains(got, "RUNTIME_NOTE/runtime") {
		t.Errorf("restored env vars: %s", got)
	}
	found := false
	for _, x := range b2.deployments(p.ID) {
		found = found || (x.ID == d.ID && x.State == "ready")
	}
	if !found {
		t.Errorf("the ready deployment %s is not listed after restore: %+v", d.ID, b2.deployments(p.ID))
	}
	// The API key made before the backup still works.
	req, _ := http.NewRequest(http.MethodGet, b2.url("/v1/projects/"+p.ID), nil)
	req.Header.Set("Authorization", "Bearer "+key.Token)
	if res, err := b2.client.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("API key after restore: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// The deployment created during the backup does not stay unfinished:
	// it is built again or failed with a reason.
	// (It is absent when it was created after the snapshot.)
	if inflight.ID != "" {
		got := b2.waitState(inflight.ID, 5*time.Minute, func(x deployment) bool { return terminal(x) || x.State == "" })
		if got.State == "error" && got.Error == "" {
			t.Errorf("the in-flight deployment failed without a reason")
		}
		t.Logf("the deployment created during the backup: state %q after restore (%s)", got.State, got.Error)
	}
	// Scheduled backups: at least three written, the newest two kept,
	// each one a backup that restores.
	waitFor(t, 2*time.Minute, func() bool { return strings.Count(b2.logText(), `msg="backup written"`) >= 3 })
	kept, _ := filepath.Glob(filepath.Join(scheduled, "berth-backup-*.tar.gz"))
	if len(kept) != 2 {
		t.Errorf("scheduled backups kept: %v, want the newest 2", kept)
	} else if out, err := berthCommand([]string{"BERTH_DATA_DIR=" + filepath.Join(t.TempDir(), "again")}, "restore", kept[1]); err != nil {
		t.Errorf("restore a scheduled backup: %v\n%s", err, out)
	}
	if secret := os.Getenv("BERTH_TEST_S3_SECRET_KEY"); strings.Contains(b2.logText(), secret) {
		t.Error("berth's log holds the S3 secret key")
	}

	// A rebuild with the restored secret key opens the sealed build env.
	var again deployment
	if code := b2.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &again); code != http.StatusAccepted {
		t.Fatalf("deploy after restore: %d", code)
	}
	if again = b2.waitState(again.ID, 5*time.Minute, terminal); again.State != "ready" {
		t.Fatalf("deployment after restore %s (%s):\n%s", again.State, again.Error, plainLog(t, b2, again.ID))
	}
	if res, body := b2.getHost(again.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "restored-greeting-1234") {
		t.Errorf("preview built after restore: %d %q", res.StatusCode, body)
	}
}

// keptSite is the project deployKeptSite makes.
type keptSite struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

// deployKeptSite deploys a page written at build time from a build env var
// (with a runtime one beside it) to production and waits until the
// project's host serves it.
func deployKeptSite(t *testing.T, b *berthProc) (keptSite, deployment) {
	t.Helper()
	var p keptSite
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("a page made at build time\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "Site", true)
	if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": "kept-site", "git_url": repo,
		"build_command": `mkdir -p dist && echo "<h1>$GREETING</h1>" > dist/index.html`, "output_dir": "dist"}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	for _, v := range []map[string]string{
		{"key": "GREETING", "value": "restored-greeting-1234", "target": "build"},
		{"key": "RUNTIME_NOTE", "value": "kept", "target": "runtime"},
	} {
		if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", v, nil); code != http.StatusOK {
			t.Fatalf("set env %s: %d", v["key"], code)
		}
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	if d = b.waitState(d.ID, 5*time.Minute, terminal); d.State != "ready" {
		t.Fatalf("deployment %s (%s):\n%s", d.State, d.Error, plainLog(t, b, d.ID))
	}
	host := p.Slug + ".localhost"
	waitFor(t, time.Minute, func() bool {
		res, body := b.getHost(host, "/")
		return res.StatusCode == http.StatusOK && strings.Contains(string(body), "restored-greeting-1234")
	})
	return p, d
}

// berthCommand runs the berth binary with args and extra environment and
// returns its combined output.
func berthCommand(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// removeTestBucket empties and removes a test's bucket.
func removeTestBucket(t *testing.T, bucket string) {
	mc, err := minio.New(os.Getenv("BERTH_TEST_S3_ENDPOINT"), &minio.Options{
		Creds: credentials.NewStaticV4(os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), os.Getenv("BERTH_TEST_S3_SECRET_KEY"), ""),
	})
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objects := mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range mc.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		t.Errorf("remove %s: %v", e.ObjectName, e.Err)
	}
	if err := mc.RemoveBucket(ctx, bucket); err != nil && minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		t.Errorf("remove bucket %s: %v", bucket, err)
	}
}

// TestBackupAndRestoreLocalArtifacts: on a machine without S3, a backup
// with -include-artifacts brings the deployments' files along, and the
// restored berth serves the production host from them.
func TestBackupAndRestoreLocalArtifacts(t *testing.T) {
	requireEnv(t)
	env := []string{"BERTH_EXTRA_CA_FILE=" + os.Getenv("BERTH_EXTRA_CA_FILE")}
	dir1 := t.TempDir()
	b1 := startBerth(t, dir1, env...)
	p, _ := deployKeptSite(t, b1)
	archive := filepath.Join(t.TempDir(), "berth.tar.gz")
	if out, err := berthCommand([]string{"BERTH_DATA_DIR=" + dir1}, "backup", "-include-artifacts", archive); err != nil {
		t.Fatalf("berth backup: %v\n%s", err, out)
	}
	b1.stop()
	dir2 := t.TempDir()
	if out, err := berthCommand([]string{"BERTH_DATA_DIR=" + dir2}, "restore", archive); err != nil {
		t.Fatalf("berth restore: %v\n%s", err, out)
	}
	b2 := startBerth(t, dir2, env...)
	if res, body := b2.getHost(p.Slug+".localhost", "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "restored-greeting-1234") {
		t.Fatalf("restored production host: %d %q", res.StatusCode, body)
	}
}
