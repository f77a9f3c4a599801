package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/artifacts"
)

// S3Config is how s3:// targets are reached: berth's own S3 settings (the
// bucket comes from the target).
type S3Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Secure    bool
}

// parseS3 splits s3://bucket/key; ok is false for anything else (a path).
func parseS3(target string) (bucket, key string, ok bool, err error) {
	rest, ok := strings.CutPrefix(target, "s3://")
	if !ok {
		return "", "", false, nil
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", true, fmt.Errorf("%s names no bucket; write s3://bucket/key", target)
	}
	return bucket, key, true, nil
}

func (c S3Config) bucket(ctx context.Context, name string) (artifacts.Bucket, error) {
	if c.Endpoint == "" {
		return nil, errors.New("an s3:// target needs the S3 endpoint and keys (BERTH_S3_ENDPOINT, BERTH_S3_ACCESS_KEY, BERTH_S3_SECRET_KEY)")
	}
	return artifacts.NewS3(ctx, artifacts.S3Config{Endpoint: c.Endpoint, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		Bucket: name, Secure: c.Secure})
}

// Write makes a backup of src and stores it at target: a file path
// (written beside itself first, mode 0600, then renamed into place) or
// s3://bucket/key (uploaded once complete).
func Write(ctx context.Context, target string, s3 S3Config, src Source) (*Manifest, error) {
	bucketName, key, isS3, err := parseS3(target)
	if err != nil {
		return nil, err
	}
	if !isS3 {
		return writeFile0600(ctx, target, src)
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("%s names no object key; write s3://bucket/path/name.tar.gz", target)
	}
	b, err := s3.bucket(ctx, bucketName)
	if err != nil {
		return nil, err
	}
	// The archive is made in full before the upload, so an object in the
	// bucket is always a whole backup.
	f, err := os.CreateTemp(src.DataDir, ".backup-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("create backup file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	m, err := Create(ctx, f, src)
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("size backup file: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind backup file: %w", err)
	}
	if err := b.Put(ctx, key, f, size, "application/gzip"); err != nil {
		return nil, fmt.Errorf("upload backup: %w", err)
	}
	return m, nil
}

func writeFile0600(ctx context.Context, path string, src Source) (m *Manifest, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create backup file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if m, err = Create(ctx, f, src); err != nil {
		return nil, err
	}
	if err = f.Sync(); err != nil {
		return nil, fmt.Errorf("write backup file: %w", err)
	}
	if err = f.Close(); err != nil {
		return nil, fmt.Errorf("write backup file: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return nil, fmt.Errorf("write backup file: %w", err)
	}
	return m, nil
}

// Open opens the backup at target, a file path or s3://bucket/key.
func Open(ctx context.Context, target string, s3 S3Config) (io.ReadCloser, error) {
	bucketName, key, isS3, err := parseS3(target)
	if err != nil {
		return nil, err
	}
	if !isS3 {
		f, err := os.Open(target)
		if err != nil {
			return nil, fmt.Errorf("open backup: %w", err)
		}
		return f, nil
	}
	b, err := s3.bucket(ctx, bucketName)
	if err != nil {
		return nil, err
	}
	r, _, err := b.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	return r, nil
}
