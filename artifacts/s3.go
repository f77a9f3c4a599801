package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where the S3 (or MinIO) bucket is and how to reach it.
type S3Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool
	Region    string // optional
}

// S3 stores objects in one S3 bucket.
type S3 struct {
	client *minio.Client
	bucket string
}

var _ Bucket = (*S3)(nil)

// unknownSizePartSize bounds the memory of a Put with size -1: minio-go otherwise buffers
// parts of ~537 MiB, sized for a 5 TiB object. 16 MiB parts still allow 160 GB.
const unknownSizePartSize = 16 << 20

// NewS3 connects with minio-go, creates the bucket if it does not exist, and returns the store.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("connect s3 %s: %w", cfg.Endpoint, err)
	}
	s := &S3{client: client, bucket: cfg.Bucket}
	exists, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("check bucket %s: %w", cfg.Bucket, err)
	}
	if exists {
		return s, nil
	}
	err = client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
	if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou {
		err = nil // another berth process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}
	return s, nil
}

// Name returns "s3".
func (s *S3) Name() string { return "s3" }

// Put uploads the object with its content type.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := validateKey(key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	opts := minio.PutObjectOptions{ContentType: contentType}
	if size < 0 {
		opts.PartSize = unknownSizePartSize
	}
	if _, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get opens the object. minio-go's GetObject is lazy; Stat sends the request, so a missing
// key fails here and not on the caller's first Read.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := validateKey(key); err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, s3NotFound(err))
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Object{}, fmt.Errorf("get %s: %w", key, s3NotFound(err))
	}
	o := objectOf(info)
	o.Key = key
	return obj, o, nil
}

// Stat describes the object.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	if err := validateKey(key); err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, s3NotFound(err))
	}
	return objectOf(info), nil
}

// List lists every key under prefix. ListObjects follows the continuation token itself,
// page after page (S3 returns at most 1000 keys per call).
func (s *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	objects := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	// On an early return, cancel stops the listing goroutine and the drain lets it exit.
	defer func() {
		cancel()
		for range objects {
		}
	}()
	for obj := range objects {
		if obj.Err != nil {
			return fmt.Errorf("list %s: %w", prefix, obj.Err)
		}
		if err := fn(objectOf(obj)); err != nil {
			return err
		}
	}
	// The listing ends without an error entry when ctx is cancelled before it starts a page.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// DeletePrefix streams the listing into RemoveObjects, which deletes in batches of 1000.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("delete prefix: empty prefix would delete every artifact")
	}
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	toRemove := make(chan minio.ObjectInfo)
	listErr := make(chan error, 1)
	go func() {
		defer close(toRemove)
		listErr <- s.List(ctx, prefix, func(o Object) error {
			select {
			case toRemove <- minio.ObjectInfo{Key: o.Key}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	var removeErr error
	for e := range s.client.RemoveObjects(ctx, s.bucket, toRemove, minio.RemoveObjectsOptions{}) {
		if removeErr == nil {
			removeErr = fmt.Errorf("delete %s: %w", e.ObjectName, e.Err)
			cancel() // stop listing; RemoveObjects then drains and closes
		}
	}
	// The lister goroutine has finished: RemoveObjects only closes after toRemove is closed.
	if err := <-listErr; err != nil && removeErr == nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	if removeErr != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, removeErr)
	}
	return nil
}

// Ping checks that the bucket is reachable and exists.
func (s *S3) Ping(ctx context.Context) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("ping bucket %s: %w", s.bucket, err)
	}
	if !exists {
		return fmt.Errorf("ping bucket %s: bucket does not exist", s.bucket)
	}
	return nil
}

func objectOf(info minio.ObjectInfo) Object {
	return Object{Key: info.Key, Size: info.Size, ModTime: info.LastModified}
}

func s3NotFound(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return ErrNotFound
	}
	return err
}
