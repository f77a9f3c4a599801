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

// TarDir writes a tar stream of the directory tree at root: regular files, directories and
// symlinks, with their mode bits and uid/gid 0 (other file types are left out). It skips any
// path for which skip(relSlashPath, isDir) returns true, and a skipped directory's contents
// with it; skip may be nil. prefix, when not empty, names the directory the tree lands in
// ("app" or "app/" both give "app/src/main.js"); the stream then also holds that directory.
func TarDir(w io.Writer, root, prefix string, skip func(rel string, isDir bool) bool) error {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			if prefix == "" {
				return nil
			}
		} else if skip != nil && skip(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return tarEntry(tw, p, prefix, rel, d)
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", root, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", root, err)
	}
	return nil
}

func tarEntry(tw *tar.Writer, p, prefix, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	var link string
	switch {
	case info.Mode().IsRegular(), info.IsDir():
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	default:
		return nil // sockets, devices, pipes: nothing a build needs
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = prefix + rel
	if rel == "." {
		hdr.Name = prefix
	}
	if info.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.Mode &= 0o7777
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	// Exactly the size in the header: a file that grows while we read must not corrupt the
	// stream, and one that shrinks is an error rather than a silently short file.
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	return nil
}

// ErrUnsafePath is returned (wrapped) by UntarTo for an entry that would land outside its
// directory.
var ErrUnsafePath = errors.New("unsafe path in archive")

// ErrTooLarge is returned (wrapped) by UntarTo when the archive holds more than maxBytes.
var ErrTooLarge = errors.New("archive too large")

// UntarTo extracts a tar stream into dir, which it creates if needed. It rejects absolute
// names, names with "..", and entries whose path goes through a symlink; it keeps a symlink
// only if it resolves inside dir (others are left out) and drops setuid, setgid and sticky
// bits. stripComponents leading path elements are removed from every name (CopyOut puts the
// base name of the copied path first); entries left with no name are skipped. Regular files
// may hold maxBytes in total (<= 0: no cap).
func UntarTo(r io.Reader, dir string, stripComponents int, maxBytes int64) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("untar: %w", err)
	}
	x := extractor{root: dir, maxBytes: maxBytes}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("untar: read archive: %w", err)
		}
		if err := x.entry(tr, hdr, stripComponents); err != nil {
			return fmt.Errorf("untar %s: %w", hdr.Name, err)
		}
	}
	// A symlink checked when it was made can escape through links made after it
	// (a -> "b/c/.." with b and c both "."), so the finished tree is checked once more.
	for _, rel := range x.links {
		fi, err := os.Lstat(x.abs(rel))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue // replaced by a later entry
		}
		if x.escapes(rel) {
			if err := os.Remove(x.abs(rel)); err != nil {
				return fmt.Errorf("untar: %w", err)
			}
		}
	}
	return nil
}
