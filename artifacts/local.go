package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Local stores objects as files under a directory. Content types are not kept: readers
// derive them from the key with ContentType.
type Local struct {
	dir string
}

var _ Bucket = (*Local)(nil)

// NewLocal stores objects as files under dir (created 0o755). Keys are validated: no "..", no
// leading "/", no empty segments, no backslashes -> error. Writes are atomic (temp file + rename in the same dir).
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve artifact dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact dir: %w", err)
	}
	return &Local{dir: abs}, nil
}

// Name returns "local".
func (l *Local) Name() string { return "local" }

func (l *Local) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// Put writes r to a temp file beside the target and renames it into place, so readers see
// the old object or the whole new one, never a partial file.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (err error) {
	if err := validateKey(key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("put %s: read %d bytes, want %d", key, n, size)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	// Sync before rename: after a crash the key must hold the old bytes or the new
	// ones, never an empty file the rename made visible before its data hit the disk.
	if err = f.Sync(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err = os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get opens the object's file.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := validateKey(key); err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound // a directory is a prefix, not an object
	}
	if err != nil {
		f.Close()
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	return f, Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Stat describes the object's file.
func (l *Local) Stat(ctx context.Context, key string) (Object, error) {
	if err := validateKey(key); err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(l.path(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	return Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the tree in the byte order of the keys, the order S3 lists in.
func (l *Local) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	dir, name := splitPrefix(prefix)
	return l.walk(ctx, dir, name, fn)
}

// walk lists keys in directory key dir (empty or ending in "/") whose next segment starts
// with name. fn's error is returned as it is.
func (l *Local) walk(ctx context.Context, dir, name string, fn func(Object) error) error {
	entries, err := l.readDir(dir, name)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		key := dir + e.Name()
		if e.IsDir() {
			if err := l.walk(ctx, key+"/", "", fn); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we listed
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", key, err)
		}
		if err := fn(Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// readDir returns the entries of directory key dir whose names start with name, without
// temp files, sorted as their keys sort: a directory "a" sorts as "a/", after "a-b".
func (l *Local) readDir(dir, name string) ([]fs.DirEntry, error) {
	all, err := os.ReadDir(l.path(dir))
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	entries := all[:0]
	for _, e := range all {
		if strings.HasPrefix(e.Name(), name) && !strings.HasPrefix(e.Name(), tempPrefix) {
			entries = append(entries, e)
		}
	}
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	return entries, nil
}

// DeletePrefix removes every file and directory under prefix.
func (l *Local) DeletePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("delete prefix: empty prefix would delete every artifact")
	}
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	dir, name := splitPrefix(prefix)
	if name == "" {
		if err := os.RemoveAll(l.path(dir)); err != nil {
			return fmt.Errorf("delete prefix %s: %w", prefix, err)
		}
		return nil
	}
	entries, err := l.readDir(dir, name)
	if err != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(l.path(dir + e.Name())); err != nil {
			return fmt.Errorf("delete prefix %s: %w", prefix, err)
		}
	}
	return nil
}

// Ping checks that the directory exists and is writable.
func (l *Local) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(l.dir, tempPrefix+"ping-*")
	if err != nil {
		return fmt.Errorf("ping artifact dir: %w", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("ping artifact dir: %w", err)
	}
	return nil
}

// splitPrefix splits a prefix into its directory key ("" or ending in "/") and the partial
// name that follows.
func splitPrefix(prefix string) (dir, name string) {
	i := strings.LastIndexByte(prefix, '/')
	return prefix[:i+1], prefix[i+1:]
}

// isNotFound reports whether a filesystem error means the path is absent, including a
// path that runs through a regular file ("a/b" when "a" is a file).
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notFound(err error) error {
	if isNotFound(err) {
		return ErrNotFound
	}
	return err
}

// ctxReader stops a copy as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
