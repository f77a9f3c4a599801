package artifacts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocal(t *testing.T) {
	s, err := NewLocal(filepath.Join(t.TempDir(), "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "local" {
		t.Errorf("Name = %q", s.Name())
	}
	testBucket(t, s)
}

// TestLocalNoTraversal: rejected keys write nothing outside the store's directory.
func TestLocalNoTraversal(t *testing.T) {
	parent := t.TempDir()
	s, err := NewLocal(filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../escape", "a/../../escape", "/" + filepath.ToSlash(filepath.Join(parent, "escape")), `..\escape`} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put %q: err = %v, want ErrInvalidKey", key, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "store" {
		t.Errorf("parent dir holds %v, want only store", entries)
	}
	if _, err := os.Stat(filepath.Join(parent, "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escape file: %v", err)
	}
}

// errAfter yields n bytes and then fails, like a connection dropped mid-upload.
type errAfter struct{ n int }

var errDropped = errors.New("connection dropped")

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, errDropped
	}
	k := min(len(p), e.n)
	for i := range k {
		p[i] = 'y'
	}
	e.n -= k
	return k, nil
}

// TestLocalAtomicPut: a failed write keeps the old object and leaves no temp file behind.
func TestLocalAtomicPut(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "atomic/obj", "old")
	if err := s.Put(t.Context(), "atomic/obj", &errAfter{n: 100_000}, 200_000, ""); !errors.Is(err, errDropped) {
		t.Fatalf("Put from a failing reader: %v", err)
	}
	if body, _ := get(t, s, "atomic/obj"); body != "old" {
		t.Errorf("after failed Put: %q, want old", body)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "atomic"))
	if len(entries) != 1 {
		t.Errorf("atomic/ holds %d entries, want 1 (temp file left behind?)", len(entries))
	}
	fi, err := os.Stat(filepath.Join(dir, "atomic", "obj"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("object file mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

// TestLocalHidesTempFiles: another writer's in-flight temp file is not an object.
func TestLocalHidesTempFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "tmp/real", "x")
	if err := os.WriteFile(filepath.Join(dir, "tmp", tempPrefix+"123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, s, "tmp/"); len(keys) != 1 || keys[0] != "tmp/real" {
		t.Errorf("List = %q, want [tmp/real]", keys)
	}
	if keys := listKeys(t, s, "tmp/."); len(keys) != 0 {
		t.Errorf("List tmp/. = %q, want none", keys)
	}
}
