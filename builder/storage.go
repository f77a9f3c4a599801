package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
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
	// A stream made as it is read (the server bundle's tar) can fail on
	// this side; a file (an io.ReaderAt, which S3 uploads may read in
	// parallel, so it is passed as it is) practically does not.
	var src *readRecorder
	if _, ok := r.(io.ReaderAt); !ok && r != nil {
		src = &readRecorder{r: r}
		r = src
	}
	if err := b.Bucket.Put(ctx, key, r, size, contentType); err != nil {
		if ctx.Err() != nil || (src != nil && src.failed()) {
			return err // cancelled, or our own stream failed: not refused
		}
		return &refusedPut{err}
	}
	return nil
}

// readRecorder remembers whether reading its stream failed.
type readRecorder struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}
	return n, err
}

func (r *readRecorder) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// explainStorage turns a build error caused by a full disk, or by an
// artifact store refusing a write, into the sentence the deployment shows;
// other errors are returned as they are. The full path stays in the
// server's log. Explaining an explained error changes nothing.
func explainStorage(err error, workDir string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		dir := workDir
		var pe *fs.PathError
		if errors.As(err, &pe) {
			dir = filepath.Dir(pe.Path)
		}
		free := "unknown space"
		for {
			var st unix.Statfs_t
			if unix.Statfs(dir, &st) == nil {
				free = humanize.Bytes(int64(st.Bavail)*int64(st.Bsize)) + " free"
				break
			}
			if parent := filepath.Dir(dir); parent != dir {
				dir = parent // the failed file's folder may be gone already
				continue
			}
			break
		}
		return fmt.Errorf("the disk of the data directory is full (%s), so the build output could not be stored; free some space and redeploy", free)
	}
	if refused, ok := errors.AsType[*refusedPut](err); ok {
		return fmt.Errorf("the artifact store refused the upload: %w", refused.err)
	}
	return err
}

// dropPartial deletes what a failed upload stored (without a manifest it
// is never served), so that a full disk or bucket gets its space back at
// once. A cancelled build gets a short while of its own for it.
func (p *Pool) dropPartial(ctx context.Context, prefix string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := p.store.DeletePrefix(ctx, prefix); err != nil {
		p.log.Warn("delete a partial upload", slog.String("prefix", prefix), slog.Any("error", err))
	}
}
