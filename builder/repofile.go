package builder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/berth-dev/berth/internal/humanize"
)

// Caps on what the host reads of a cloned repository.
const (
	maxPackageJSON = 5 << 20  // package.json is parsed in memory
	maxLockFile    = 64 << 20 // lock files are only hashed, streamed
)

// errNotRepoFile says a name in the repository is not a regular file inside
// it: a FIFO, a device, a directory, or a link that leads out of the tree.
type errNotRepoFile struct{ name string }

func (e errNotRepoFile) Error() string {
	return fmt.Sprintf("%s must be a regular file inside the repository (not a link out of it, a pipe or a device)", e.name)
}

// openRepoFile opens name, a slash path in the repository, for reading on
// the host. Every read of a cloned tree goes through here: root confines it
// to the tree (links may not lead out), only regular files open, and the
// open never blocks (a FIFO would block a plain open forever). A missing
// file is fs.ErrNotExist.
func openRepoFile(root *os.Root, name string) (*os.File, error) {
	fi, err := root.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fs.ErrNotExist
	case err != nil:
		return nil, errNotRepoFile{name}
	case !fi.Mode().IsRegular():
		return nil, errNotRepoFile{name}
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, errNotRepoFile{name}
	}
	// The tree does not change under us, but what was opened is what counts.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errNotRepoFile{name}
	}
	return f, nil
}

// readRepoFile reads name from the repository, refusing more than limit
// bytes.
func readRepoFile(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := openRepoFile(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s, more than berth reads", name, humanize.Bytes(limit))
	}
	return data, nil
}

// hashRepoFile writes name's bytes to w, refusing more than limit bytes.
func hashRepoFile(root *os.Root, name string, limit int64, w io.Writer) error {
	f, err := openRepoFile(root, name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, limit+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if n > limit {
		return fmt.Errorf("%s is larger than %s, more than berth reads", name, humanize.Bytes(limit))
	}
	return nil
}

// repoFileExists reports whether name is a regular file in the repository;
// anything else there under that name is an error.
func repoFileExists(root *os.Root, name string) (bool, error) {
	f, err := openRepoFile(root, name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

// openProjectDir opens the project's folder (root_dir) of the repository, a
// folder inside it.
func openProjectDir(repo *os.Root, rootDir string) (*os.Root, error) {
	if rootDir == "" {
		rootDir = "."
	}
	fi, err := repo.Stat(rootDir)
	if err == nil && fi.IsDir() {
		if dir, err := repo.OpenRoot(rootDir); err == nil {
			return dir, nil
		}
	}
	return nil, fmt.Errorf("the root directory %q does not exist in the repository", rootDir)
}
