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
	full := fmt.Errorf("upload output: %w", &fs.PathError{Op: "write", Path: dir + "/x", Err: syscall.ENOSPC})
	if got := explainStorage(full, dir).Error(); !strings.HasPrefix(got, "the disk of the data directory is full (") || !strings.Contains(got, " free)") {
		t.Errorf("full disk: %q", got)
	}
	store := putRecorder{failingBucket{err: errors.New("put deployments/x/manifest.json: Storage backend has reached its minimum free drive threshold.")}}
	err := fmt.Errorf("upload output: %w", store.Put(t.Context(), "k", nil, 0, ""))
	if got := explainStorage(err, dir).Error(); !strings.HasPrefix(got, "the artifact store refused the upload: put deployments/x/manifest.json: Storage backend") {
		t.Errorf("refused: %q", got)
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
