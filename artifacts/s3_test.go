package artifacts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// s3TestConfig returns a config for a fresh random bucket on the test server. Without a
// reachable server the S3 tests fail, unless -short is given.
func s3TestConfig(t *testing.T) S3Config {
	t.Helper()
	endpoint := os.Getenv("BERTH_TEST_S3_ENDPOINT")
	var problem string
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
		t.Fatal(problem + `; start MinIO with: eval "$(scripts/minio.sh start /tmp/berth-minio/data 9100)", or run go test -short to skip S3 tests`)
	}
	b := make([]byte, 6)
	rand.Read(b)
	return S3Config{
		Endpoint:  endpoint,
		AccessKey: os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
		Bucket:    "berth-test-" + hex.EncodeToString(b),
	}
}

// newTestS3 connects to a fresh bucket and removes it, with its objects, after the test.
func newTestS3(t *testing.T) *S3 {
	t.Helper()
	cfg := s3TestConfig(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	t.Cleanup(func() { removeBucket(t, s) })
	return s
}

func removeBucket(t *testing.T, s *S3) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objects := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range s.client.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		t.Errorf("remove %s: %v", e.ObjectName, e.Err)
	}
	if err := s.client.RemoveBucket(ctx, s.bucket); err != nil {
		t.Errorf("remove bucket %s: %v", s.bucket, err)
	}
}

func TestS3(t *testing.T) {
	s := newTestS3(t)
	if s.Name() != "s3" {
		t.Errorf("Name = %q", s.Name())
	}
	testBucket(t, s)
}

// TestS3ContentType: the content type given to Put is the one the bucket serves back.
func TestS3ContentType(t *testing.T) {
	s := newTestS3(t)
	for key, ct := range map[string]string{
		"ct/app.js":    "text/javascript; charset=utf-8",
		"ct/logo.svg":  "image/svg+xml",
		"ct/unknown":   "application/octet-stream",
		"ct/page.html": "text/html; charset=utf-8",
	} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, ct); err != nil {
			t.Fatal(err)
		}
		info, err := s.client.StatObject(t.Context(), s.bucket, key, minio.StatObjectOptions{})
		if err != nil || info.ContentType != ct {
			t.Errorf("%s stored as %q (%v), want %q", key, info.ContentType, err, ct)
		}
	}
}

// TestS3ExistingBucket: NewS3 on a bucket that exists keeps it and its objects.
func TestS3ExistingBucket(t *testing.T) {
	s := newTestS3(t)
	put(t, s, "keep/me", "x")
	cfg := s3TestConfig(t)
	cfg.Bucket = s.bucket
	again, err := NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewS3 on an existing bucket: %v", err)
	}
	if body, _ := get(t, again, "keep/me"); body != "x" {
		t.Errorf("object in the existing bucket = %q", body)
	}

	gone := &S3{client: s.client, bucket: s.bucket + "-missing"}
	if err := gone.Ping(t.Context()); err == nil {
		t.Error("Ping of a missing bucket succeeded")
	}
}

// TestS3WrongCredentials: a bad secret fails NewS3 instead of passing it a broken store.
func TestS3WrongCredentials(t *testing.T) {
	cfg := s3TestConfig(t)
	cfg.SecretKey = "not-the-secret"
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := NewS3(ctx, cfg); err == nil {
		t.Fatal("NewS3 with a wrong secret succeeded")
	}
}

// TestS3Unreachable needs no server: a closed port fails within the ctx deadline.
func TestS3Unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = NewS3(ctx, S3Config{Endpoint: addr, AccessKey: "a", SecretKey: "b", Bucket: "berth-unreachable"})
	if err == nil {
		t.Fatal("NewS3 against a closed port succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("NewS3 took %v to fail", d)
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("unreachable server reported as not found: %v", err)
	}
}
