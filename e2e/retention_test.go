package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// retentionRun is the answer of POST /v1/system/retention.
type retentionRun struct {
	Expired        int    `json:"expired"`
	LogLines       int64  `json:"log_lines_deleted"`
	ArtifactBytes  int64  `json:"artifact_bytes"`
	CacheBytes     int64  `json:"cache_bytes"`
	ReclaimedBytes int64  `json:"reclaimed_bytes"`
	Error          string `json:"error"`
}

// TestRetention deploys five versions of a small site with MinIO as the
// artifact store and BERTH_KEEP_DEPLOYMENTS=2, makes an older one
// production, and runs retention: the two deployments that are neither
// among the newest two nor production lose their objects in MinIO, their
// files in the disk cache and their logs, and answer 410; the others still
// serve; the bytes reported are the bytes that were there.
func TestRetention(t *testing.T) {
	requireEnv(t, "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
	bucket := "berth-e2e-retain-" + strings.ToLower(store.NewID(4))
	dataDir := t.TempDir()
	b := startBerth(t, dataDir,
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_S3_ENDPOINT="+os.Getenv("BERTH_TEST_S3_ENDPOINT"),
		"BERTH_S3_ACCESS_KEY="+os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
		"BERTH_S3_SECRET_KEY="+os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
		"BERTH_S3_BUCKET="+bucket,
		"BERTH_KEEP_DEPLOYMENTS=2",
		// Each version was production for a moment (a push to main is
		// promoted when ready): kept for 0 days, only production counts.
		"BERTH_KEEP_PROMOTED_DAYS=0",
		"BERTH_RETENTION_INTERVAL=0", // runs only when asked: the test decides when
	)
	mc, err := minio.New(os.Getenv("BERTH_TEST_S3_ENDPOINT"), &minio.Options{
		Creds: credentials.NewStaticV4(os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), os.Getenv("BERTH_TEST_S3_SECRET_KEY"), ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeBucket(mc, bucket) })
	// objects sums the sizes of the objects under prefix ("" for all).
	objects := func(prefix string) (n int, size int64) {
		t.Helper()
		for obj := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			n++
			size += obj.Size
		}
		return n, size
	}

	repo := t.TempDir()
	var p struct {
		ID string `json:"id"`
	}
	var ds []deployment
	var pages []string
	for i := range 5 {
		page := fmt.Sprintf("<!doctype html><title>v%d</title><link rel=stylesheet href=style.css><h1>version %d</h1>", i, i)
		files := map[string]string{"index.html": page, "style.css": "h1 { color: teal }\n"}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(repo, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		commitAll(t, repo, fmt.Sprintf("Version %d", i), i == 0)
		if i == 0 {
			if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "kept", "git_url": repo}, &p); code != http.StatusCreated {
				t.Fatalf("create project: %d", code)
			}
		}
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy %d: %d", i, code)
		}
		d = b.waitState(d.ID, 5*time.Minute, terminal)
		if d.State != "ready" {
			t.Fatalf("deployment %d: %s (%s)", i, d.State, d.Error)
		}
		// Served once, so its files are in the disk cache.
		if res, body := b.getHost(d.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusOK || string(body) != page {
			t.Fatalf("deployment %d serves %d %q", i, res.StatusCode, body)
		}
		ds, pages = append(ds, d), append(pages, page)
	}
	// An older deployment is production: kept although it is not among
	// the newest two.
	if code := b.api(http.MethodPost, "/v1/deployments/"+ds[1].ID+"/promote", nil, nil); code != http.StatusOK {
		t.Fatalf("promote: %d", code)
	}
	kept := []int{1, 3, 4}
	expired := []int{0, 2}

	// What the expired deployments hold, before the run.
	var wantArtifacts, wantCache int64
	var cachePaths []string
	for _, i := range expired {
		n, size := objects("deployments/" + ds[i].ID + "/")
		if n < 3 {
			t.Fatalf("deployment %d has %d objects before retention; want its files and manifest", i, n)
		}
		wantArtifacts += size
		sum := sha256.Sum256([]byte(pages[i]))
		sha := hex.EncodeToString(sum[:])
		paths, _ := filepath.Glob(filepath.Join(dataDir, "cache", "objects", sha[:2], sha+"*"))
		if len(paths) == 0 {
			t.Fatalf("deployment %d's page is not in the disk cache", i)
		}
		for _, path := range paths {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			wantCache += fi.Size()
		}
		cachePaths = append(cachePaths, paths...)
	}

	var run retentionRun
	if code := b.api(http.MethodPost, "/v1/system/retention", nil, &run); code != http.StatusOK {
		t.Fatalf("run retention: %d", code)
	}
	if run.Expired != 2 || run.Error != "" || run.ArtifactBytes != wantArtifacts || run.CacheBytes != wantCache ||
		run.ReclaimedBytes != wantArtifacts+wantCache || run.ReclaimedBytes <= 0 || run.LogLines <= 0 {
		t.Fatalf("retention run %+v; want 2 expired, %d artifact bytes, %d cache bytes, log lines deleted", run, wantArtifacts, wantCache)
	}

	for _, i := range expired {
		d := ds[i]
		if n, _ := objects("deployments/" + d.ID + "/"); n != 0 {
			t.Errorf("deployment %d still has %d objects in MinIO", i, n)
		}
		res, body := b.getHost(d.PreviewHost+".localhost", "/")
		if res.StatusCode != http.StatusGone || !strings.Contains(string(body), "removed by retention") {
			t.Errorf("expired deployment %d answers %d %q", i, res.StatusCode, body)
		}
		var got struct {
			State     string     `json:"state"`
			ExpiredAt *time.Time `json:"expired_at"`
		}
		b.api(http.MethodGet, "/v1/deployments/"+d.ID, nil, &got)
		if got.State != "ready" || got.ExpiredAt == nil {
			t.Errorf("expired deployment %d reads %+v; want its state kept and expired_at set", i, got)
		}
		if log := b.plainLog(d.ID); strings.Contains(log, "Cloning") {
			t.Errorf("expired deployment %d still has its log:\n%s", i, log)
		}
		var e struct{ Error string }
		if code := b.api(http.MethodPost, "/v1/deployments/"+d.ID+"/promote", nil, &e); code != http.StatusConflict ||
			!strings.Contains(e.Error, "removed by retention") {
			t.Errorf("promote expired deployment %d: %d %q", i, code, e.Error)
		}
	}
	for _, path := range cachePaths {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("cached file %s of an expired deployment is still there (%v)", path, err)
		}
	}
	for _, i := range kept {
		d := ds[i]
		if n, _ := objects("deployments/" + d.ID + "/"); n < 3 {
			t.Errorf("kept deployment %d has %d objects in MinIO", i, n)
		}
		for path, want := range map[string]string{"/": pages[i], "/style.css": "h1 { color: teal }\n"} {
			if res, body := b.getHost(d.PreviewHost+".localhost", path); res.StatusCode != http.StatusOK || string(body) != want {
				t.Errorf("kept deployment %d %s: %d %q", i, path, res.StatusCode, body)
			}
		}
		if log := b.plainLog(d.ID); !strings.Contains(log, "Cloning") {
			t.Errorf("kept deployment %d lost its log:\n%s", i, log)
		}
	}
	if res, body := b.getHost("kept.localhost", "/"); res.StatusCode != http.StatusOK || string(body) != pages[1] {
		t.Errorf("production host: %d %q, want version 1", res.StatusCode, body)
	}

	// The disk report shows the store as it is now and the run.
	var disk struct {
		FreeBytes     int64         `json:"free_bytes"`
		SQLiteBytes   int64         `json:"sqlite_bytes"`
		CacheBytes    int64         `json:"cache_bytes"`
		ArtifactStore string        `json:"artifact_store"`
		ArtifactBytes int64         `json:"artifact_bytes"`
		LastRetention *retentionRun `json:"last_retention"`
		Errors        []string      `json:"errors"`
	}
	if code := b.api(http.MethodGet, "/v1/system/disk", nil, &disk); code != http.StatusOK {
		t.Fatalf("disk report: %d", code)
	}
	_, total := objects("")
	if disk.ArtifactStore != "s3" || disk.ArtifactBytes != total || disk.FreeBytes <= 0 || disk.SQLiteBytes <= 0 ||
		disk.CacheBytes <= 0 || disk.LastRetention == nil || *disk.LastRetention != run || len(disk.Errors) != 0 {
		t.Errorf("disk report %+v (last run %+v); want s3 holding %d bytes and the run %+v", disk, disk.LastRetention, total, run)
	}

	// Nothing is left to do.
	run = retentionRun{}
	if b.api(http.MethodPost, "/v1/system/retention", nil, &run); run.Expired != 0 || run.ReclaimedBytes != 0 || run.Error != "" {
		t.Errorf("second run %+v, want nothing done", run)
	}
}

// plainLog returns a deployment's whole build log as text.
func (b *berthProc) plainLog(id string) string {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/plain")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// removeBucket empties and removes a test's bucket.
func removeBucket(mc *minio.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs := mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range mc.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		_ = e
	}
	mc.RemoveBucket(ctx, bucket)
}
