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

// failingBucket refuses every write with err.
type failingBucket struct {
	artifacts.Bucket
	err error
}

func (b failingBucket) Put(context.Context, string, io.Reader, int64, string) error { return b.err }

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
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := store.Put(ctx, "k", nil, 0, ""); errors.As(err, new(*refusedPut)) {
		t.Error("a cancelled write is reported as refused")
	}
}
