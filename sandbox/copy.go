package sandbox

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// PathInfo tells whether a path exists in a container and whether it is a directory.
type PathInfo struct {
	Exists, IsDir bool
	Size          int64
}

// Stat looks a path up in a container, running or stopped (no exec involved). A symlink is
// followed. A missing path is PathInfo{Exists: false} and no error.
func (s *Sandbox) Stat(ctx context.Context, containerID, p string) (PathInfo, error) {
	st, err := s.docker.ContainerStatPath(ctx, containerID, p)
	if err == nil && st.Mode&fs.ModeSymlink != 0 && st.LinkTarget != "" {
		// The engine reports the link itself, and LinkTarget as the fully resolved path.
		st, err = s.docker.ContainerStatPath(ctx, containerID, st.LinkTarget)
	}
	if cerrdefs.IsNotFound(err) {
		return PathInfo{}, nil
	}
	if err != nil {
		return PathInfo{}, fmt.Errorf("stat %s in container %s: %w", p, shortID(containerID), err)
	}
	return PathInfo{Exists: true, IsDir: st.Mode.IsDir(), Size: st.Size}, nil
}

// CopyOut returns a tar stream of path from a container, running or stopped. The first
// element of every name is path's base name. The caller closes it. A missing path is an error
// wrapping fs.ErrNotExist.
func (s *Sandbox) CopyOut(ctx context.Context, containerID, p string) (io.ReadCloser, error) {
	rc, _, err := s.docker.CopyFromContainer(ctx, containerID, p)
	if cerrdefs.IsNotFound(err) {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("copy %s out of container %s: %w", p, shortID(containerID), err)
	}
	return rc, nil
}

// ReadFile returns the contents of a regular file in a container, at most limit bytes; a
// larger file is an error. A missing file is an error wrapping fs.ErrNotExist.
func (s *Sandbox) ReadFile(ctx context.Context, containerID, p string, limit int64) ([]byte, error) {
	st, err := s.docker.ContainerStatPath(ctx, containerID, p)
	if cerrdefs.IsNotFound(err) {
		err = fs.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read %s in container %s: %w", p, shortID(containerID), err)
	}
	if st.Mode&fs.ModeSymlink != 0 && st.LinkTarget != "" {
		p = st.LinkTarget
	}
	rc, err := s.CopyOut(ctx, containerID, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("read %s in container %s: %w", p, shortID(containerID), err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("read %s in container %s: not a regular file", p, shortID(containerID))
	}
	if hdr.Size > limit {
		return nil, fmt.Errorf("read %s in container %s: %d bytes is more than the %d allowed", p, shortID(containerID), hdr.Size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(tr, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s in container %s: %w", p, shortID(containerID), err)
	}
	return b, nil
}

// copyIn extracts f.Tar into f.Dir in a created container, owned by own (nil: as the stream
// says). The engine only extracts into a directory that exists, so the stream is re-rooted at
// the nearest existing ancestor, with entries in front for the missing directories (mode
// 0755) and, when own is set, for f.Dir itself with its mode kept, so that a non-root user
// owns the directory it builds in (the engine makes a missing WorkDir root's). Directories
// above those never appear in the stream, so their owners and modes stay as they are.
func (s *Sandbox) copyIn(ctx context.Context, id string, f CopyIn, own *owner) error {
	if !path.IsAbs(f.Dir) {
		return fmt.Errorf("copy into container: %q is not an absolute path", f.Dir)
	}
	dir := path.Clean(f.Dir)
	base := dir
	var dirs []tarDir // from base down to dir
	for {
		st, err := s.docker.ContainerStatPath(ctx, id, base)
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("copy into %s: stat %s: %w", dir, base, err)
		}
		exists := err == nil
		if exists && st.Mode&fs.ModeSymlink != 0 && st.LinkTarget != "" {
			// Resolve, so that the entries below replace no symlink.
			if base == dir {
				dir = st.LinkTarget
			}
			base = st.LinkTarget
			continue
		}
		if exists && !st.Mode.IsDir() {
			return fmt.Errorf("copy into %s: %s is not a directory", dir, base)
		}
		if base == "/" || (exists && (base != dir || own == nil)) {
			break
		}
		mode := int64(0o755)
		if exists {
			mode = int64(st.Mode.Perm())
			if st.Mode&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
		}
		dirs = append([]tarDir{{path.Base(base), mode}}, dirs...)
		base = path.Dir(base)
	}
	if len(dirs) == 0 && own == nil {
		if err := s.docker.CopyToContainer(ctx, id, dir, f.Tar, container.CopyToContainerOptions{}); err != nil {
			return fmt.Errorf("copy into %s: %w", dir, err)
		}
		return nil
	}

	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(rewriteTar(pw, f.Tar, dirs, own))
	}()
	err := s.docker.CopyToContainer(ctx, id, base, pr, container.CopyToContainerOptions{})
	// Unblocks rewriteTar if the engine stopped reading early.
	pr.CloseWithError(errors.New("copy ended"))
	<-done
	if err != nil {
		return fmt.Errorf("copy into %s: %w", dir, err)
	}
	return nil
}

// tarDir is a directory entry rewriteTar puts in front of a stream.
type tarDir struct {
	name string
	mode int64
}

// rewriteTar copies a tar stream to w with every name (and hard link target) moved under the
// directories dirs, which it writes first, and everything owned by own when it is not nil.
func rewriteTar(w io.Writer, r io.Reader, dirs []tarDir, own *owner) error {
	tw := tar.NewWriter(w)
	chown := func(h *tar.Header) {
		if own != nil {
			h.Uid, h.Gid, h.Uname, h.Gname = own.uid, own.gid, "", ""
		}
	}
	prefix := ""
	for _, d := range dirs {
		prefix += d.name + "/"
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: d.mode}
		chown(hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		hdr.Name = prefix + strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = prefix + strings.TrimPrefix(hdr.Linkname, "./")
		}
		chown(hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
