package backup

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// testS3 returns the test MinIO's settings and a fresh bucket name, and
// removes the bucket with its objects after the test. Without a reachable
// server the test fails (it skips only under -short).
func testS3(t *testing.T) (S3Config, string, *minio.Client) {
	t.Helper()
	endpoint := os.Getenv("BERTH_TEST_S3_ENDPOINT")
	problem := ""
	if endpoint == "" {
		problem = "BERTH_TEST_S3_ENDPOINT is not set"
	} else if conn, err := net.DialTimeout("tcp", endpoint, 3*time.Second); err != nil {
		problem = "BERTH_TEST_S3_ENDPOINT=" + endpoint + " is unreachable: " + err.Error()
	} else {
		conn.Close()
	}
	if problem != "" {
		if testing.Short() {
			t.Skip(problem + " (skipped under -short)")
		}
		t.Fatal(problem + "; run the tests through scripts/test, which starts MinIO")
	}
	cfg := S3Config{Endpoint: endpoint, AccessKey: os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("BERTH_TEST_S3_SECRET_KEY")}
	mc, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	bucket := "berth-backup-test-" + store.NewID(4)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		objects := mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
		for e := range mc.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
			t.Errorf("remove %s: %v", e.ObjectName, e.Err)
		}
		if err := mc.RemoveBucket(ctx, bucket); err != nil {
			t.Errorf("remove bucket: %v", err)
		}
	})
	return cfg, bucket, mc
}

func TestS3Target(t *testing.T) {
	cfg, bucket, mc := testS3(t)
	dir, deploymentID := testData(t)
	target := "s3://" + bucket + "/nightly/one.tar.gz"
	if _, err := Write(t.Context(), target, cfg, Source{DataDir: dir, BerthVersion: "v9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.StatObject(t.Context(), bucket, "nightly/one.tar.gz", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the backup is not in the bucket: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup-*")); len(left) > 0 {
		t.Errorf("work files left in the data dir after an s3 backup: %v", left)
	}
	r, err := Open(t.Context(), target, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	m, err := Restore(t.Context(), r, dst)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if m.BerthVersion != "v9" {
		t.Errorf("manifest %+v", m)
	}
	db, err := store.Open(t.Context(), dst+"/berth.db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeploymentByID(t.Context(), deploymentID); err != nil {
		t.Errorf("restored from S3, the deployment is missing: %v", err)
	}
	db.Close()

	if _, err := Open(t.Context(), "s3://"+bucket+"/nightly/missing.tar.gz", cfg); err == nil {
		t.Error("opening a missing key succeeded")
	}

	// Scheduled backups under a prefix keep the newest two.
	s := Schedule{Target: "s3://" + bucket + "/auto", Keep: 2, S3: cfg, Source: Source{DataDir: dir}}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 3 {
		where, err := s.Once(t.Context(), start.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(where, "s3://"+bucket+"/auto/berth-backup-") {
			t.Errorf("backup written to %s", where)
		}
	}
	var keys []string
	for o := range mc.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: "auto/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	want := "auto/berth-backup-20260102T030505Z.tar.gz auto/berth-backup-20260102T030605Z.tar.gz"
	if strings.Join(keys, " ") != want {
		t.Errorf("kept %v, want %s", keys, want)
	}
}
