package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/artifacts"
)

// putRecorder marks the errors of the artifact store's writes, so that a
// failed build can tell "the store refused the upload" from a failure to
// read the build's own output.
type putRecorder struct{ artifacts.Bucket }

// refusedPut is a write the artifact store did not take.
type refusedPut struct{ err error }

func (e *refusedPut) Error() string { return e.err.Error() }
func (e *refusedPut) Unwrap() error { return e.err }

func (b putRecorder) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := b.Bucket.Put(ctx, key, r, size, contentType); err != nil {
		if ctx.Err() != nil {
			return err // cancelled, not refused
		}
		return &refusedPut{err}
	}
	return nil
}

// explainStorage turns a build error caused by a full disk, or by an
// artifact store refusing a write, into the sentence the deployment shows;
// other errors are returned as they are. The full path and the store's
// own words stay in the server's log.
func explainStorage(err error, workDir string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		dir := workDir
		var pe *fs.PathError
		if errors.As(err, &pe) {
			dir = filepath.Dir(pe.Path)
		}
		free := "unknown space"
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil {
			free = humanBytes(int64(st.Bavail)*int64(st.Bsize)) + " free"
		}
		return fmt.Errorf("the disk of the data directory is full (%s), so the build output could not be stored; free some space and redeploy", free)
	}
	if refused, ok := errors.AsType[*refusedPut](err); ok {
		return fmt.Errorf("the artifact store refused the upload: %w", refused.err)
	}
	return err
}
