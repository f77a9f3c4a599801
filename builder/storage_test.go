package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/artifacts"
)

// failingBucket refuses every write with err, after reading the stream
// as a store would.
type failingBucket struct {
	artifacts.Bucket
	err error
}

func (b failingBucket) Put(_ context.Context, _ string, r io.Reader, _ int64, _ string) error {
	if r != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
	return b.err
}

// TestExplainStorage: a full disk and a refusing store read as sentences
// that say so; other errors pass as they are.
func TestExplainStorage(t *testing.T) {
	dir := t.TempDir()
	// The failed file's folder is gone already: the free space is measured
	// on the nearest folder that is left.
	full := fmt.Errorf("upload output: %w", &fs.PathError{Op: "write", Path: dir + "/gone/x", Err: syscall.ENOSPC})
	explained := explainStorage(full, "/nonexistent")
	if got := explained.Error(); !strings.HasPrefix(got, "the disk of the data directory is full (") || !strings.Contains(got, " free)") {
		t.Errorf("full disk: %q", got)
	}
	if again := explainStorage(explained, dir); again.Error() != explained.Error() {
		t.Errorf("explained twice: %q", again)
	}
	store := putRecorder{failingBucket{err: errors.New("put deployments/x/manifest.json: Storage backend has reached its minimum free drive threshold.")}}
	err := fmt.Errorf("upload output: %w", store.Put(t.Context(), "k", nil, 0, ""))
	refused := explainStorage(err, dir)
	if got := refused.Error(); !strings.HasPrefix(got, "the artifact store refused the upload: put deployments/x/manifest.json: Storage backend") {
		t.Errorf("refused: %q", got)
	}
	if again := explainStorage(refused, dir); again.Error() != refused.Error() {
		t.Errorf("explained twice: %q", again)
	}
	other := errors.New("the build output is empty")
	if got := explainStorage(other, dir); got != other {
		t.Errorf("other error changed: %v", got)
	}
	// Our own stream failing is not the store refusing.
	pr, pw := io.Pipe()
	pw.CloseWithError(errors.New("tar: file changed as we read it"))
	if err := store.Put(t.Context(), "k", pr, -1, ""); errors.As(err, new(*refusedPut)) || !strings.Contains(err.Error(), "tar:") {
		t.Errorf("a failed stream: %v, want it as it is", err)
	}
	if err := store.Put(t.Context(), "k", strings.NewReader("ok"), 2, ""); !errors.As(err, new(*refusedPut)) {
		t.Errorf("a refused stream that read fine: %v, want refused", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := store.Put(ctx, "k", nil, 0, ""); errors.As(err, new(*refusedPut)) {
		t.Error("a cancelled write is reported as refused")
	}
}
