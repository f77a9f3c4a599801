// Package artifacts stores build artifacts under slash-separated keys, in a local
// directory (the zero-setup default) or in S3/MinIO.
package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped or bare, test with errors.Is) when a key does not exist.
var ErrNotFound = errors.New("artifact not found")

// ErrInvalidKey is returned (wrapped) for a key or prefix that fails validation.
var ErrInvalidKey = errors.New("invalid artifact key")

// Object describes one stored artifact.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Bucket holds build artifacts under slash-separated keys: an S3 bucket, or a
// local directory laid out like one.
//
// Prefixes are raw string prefixes, as in S3: "a/b" matches "a/b/c" and "a/bc".
// Both implementations validate keys the same way, so a key that works with one works
// with the other.
type Bucket interface {
	// Put writes the object; size -1 means unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object; ErrNotFound when missing.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Stat describes the object; ErrNotFound when missing.
	Stat(ctx context.Context, key string) (Object, error)
	// List calls fn for every key under prefix in lexical byte order, across all pages,
	// and stops at fn's first error and returns it.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// DeletePrefix removes every key under prefix. An empty prefix is refused.
	DeletePrefix(ctx context.Context, prefix string) error
	// Ping reports whether the store is ready.
	Ping(ctx context.Context) error
	// Name is "local" or "s3".
	Name() string
}

// tempPrefix marks Local's in-flight writes; keys may not use it, so List never shows them.
const tempPrefix = ".berth-tmp-"

// validateKey rejects keys that could escape a directory or alias another key.
func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	return validatePath(key, false)
}

// validatePrefix is validateKey that also accepts "" and a trailing slash.
func validatePrefix(prefix string) error {
	return validatePath(prefix, true)
}

func validatePath(p string, prefix bool) error {
	if strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("%w %q: backslash or NUL", ErrInvalidKey, p)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w %q: leading slash", ErrInvalidKey, p)
	}
	segs := strings.Split(p, "/")
	if prefix {
		// The last segment of a prefix is only a name filter, never opened as a path,
		// so it may be partial or empty.
		segs = segs[:len(segs)-1]
	}
	for _, s := range segs {
		switch {
		case s == "":
			return fmt.Errorf("%w %q: empty segment", ErrInvalidKey, p)
		case s == "." || s == "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, p, s)
		case strings.HasPrefix(s, tempPrefix):
			return fmt.Errorf("%w %q: reserved name", ErrInvalidKey, p)
		}
	}
	return nil
}
