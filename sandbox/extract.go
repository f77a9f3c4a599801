package sandbox

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxLinkHops bounds symlink resolution, as the kernel's own limit (40) does.
const maxLinkHops = 40

// extractor writes the entries of one archive under root. Every path it writes through is
// checked to be a real directory, and every file is created anew (O_EXCL after removing what
// was there), so no write ever follows a symlink.
type extractor struct {
	root     string
	maxBytes int64
	written  int64
	links    []string // slash paths of the symlinks made, for the final check
}

func (x *extractor) abs(rel string) string {
	return filepath.Join(x.root, filepath.FromSlash(rel))
}

// cleanName validates an archive name and removes strip leading elements. "" means the entry
// names nothing below the root.
func cleanName(name string, strip int) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name", ErrUnsafePath)
	}
	var keep []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: name contains ..", ErrUnsafePath)
		}
		keep = append(keep, p)
	}
	if len(keep) <= strip {
		return "", nil
	}
	return strings.Join(keep[strip:], "/"), nil
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header, strip int) error {
	rel, err := cleanName(hdr.Name, strip)
	if err != nil || rel == "" {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(rel, fs.FileMode(hdr.Mode)&0o777|0o700)
	case tar.TypeReg:
		return x.file(tr, rel, hdr)
	case tar.TypeSymlink:
		return x.symlink(rel, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(rel, hdr.Linkname, strip)
	default:
		return nil // devices, fifos, global headers: nothing we serve
	}
}

// parents checks that every directory above rel is a real directory, creating missing ones
// when create is set.
func (x *extractor) parents(rel string, create bool) error {
	parts := strings.Split(rel, "/")
	cur := x.root
	for _, p := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: path goes through a symlink", ErrUnsafePath)
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", p)
		}
	}
	return nil
}

// clear removes whatever non-directory is at rel, so the caller can create it afresh.
func (x *extractor) clear(rel string) error {
	fi, err := os.Lstat(x.abs(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("a directory is in the way")
	}
	return os.Remove(x.abs(rel))
}

func (x *extractor) dir(rel string, mode fs.FileMode) error {
	if err := x.parents(rel, true); err != nil {
		return err
	}
	fi, err := os.Lstat(x.abs(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Mkdir(x.abs(rel), mode)
	case err != nil:
		return err
	case fi.IsDir():
		return os.Chmod(x.abs(rel), mode)
	}
	if err := x.clear(rel); err != nil {
		return err
	}
	return os.Mkdir(x.abs(rel), mode)
}

func (x *extractor) file(r io.Reader, rel string, hdr *tar.Header) error {
	if x.maxBytes > 0 && x.written+hdr.Size > x.maxBytes {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, x.maxBytes)
	}
	x.written += hdr.Size
	if err := x.parents(rel, true); err != nil {
		return err
	}
	if err := x.clear(rel); err != nil {
		return err
	}
	f, err := os.OpenFile(x.abs(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(hdr.Mode)&0o777)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, hdr.Size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(x.abs(rel), hdr.ModTime, hdr.ModTime)
}

func (x *extractor) symlink(rel, target string) error {
	if err := x.parents(rel, true); err != nil {
		return err
	}
	if err := x.clear(rel); err != nil {
		return err
	}
	if err := os.Symlink(target, x.abs(rel)); err != nil {
		return err
	}
	if x.escapes(rel) {
		return os.Remove(x.abs(rel)) // left out, as documented
	}
	x.links = append(x.links, rel)
	return nil
}

// hardlink links rel to an earlier entry of the same archive (docker's archives use them for
// files with several names), which must be a regular file reached through real directories.
func (x *extractor) hardlink(rel, linkname string, strip int) error {
	target, err := cleanName(linkname, strip)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: hard link to %q", ErrUnsafePath, linkname)
	}
	if err := x.parents(target, false); err != nil {
		return err
	}
	fi, err := os.Lstat(x.abs(target))
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: hard link to a non-regular file", ErrUnsafePath)
	}
	if err := x.parents(rel, true); err != nil {
		return err
	}
	if err := x.clear(rel); err != nil {
		return err
	}
	return os.Link(x.abs(target), x.abs(rel))
}

// escapes resolves the symlink at rel the way the kernel would, against the tree as it is
// now, and reports whether the resolution ever leaves root (or is absolute, or loops).
// Components that do not exist yet are taken literally.
func (x *extractor) escapes(rel string) bool {
	target, err := os.Readlink(x.abs(rel))
	if err != nil || filepath.IsAbs(target) {
		return true
	}
	parts := strings.Split(rel, "/")
	at := append([]string(nil), parts[:len(parts)-1]...) // the real directory we are in
	todo := strings.Split(target, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(at) == 0 {
				return true
			}
			at = at[:len(at)-1]
			continue
		}
		p := filepath.Join(x.root, filepath.Join(at...), c)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			at = append(at, c)
			continue
		}
		if hops++; hops > maxLinkHops {
			return true
		}
		next, err := os.Readlink(p)
		if err != nil || filepath.IsAbs(next) {
			return true
		}
		todo = append(strings.Split(next, "/"), todo...)
	}
	return false
}
