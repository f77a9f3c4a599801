package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/store"
)

// ErrNotEmpty is returned when restore is asked to fill a data directory
// that already holds something.
var ErrNotEmpty = errors.New("not empty")

// maxManifest bounds the manifest read into memory.
const maxManifest = 64 << 20

// Restore fills dataDir, which must be empty or missing, from the backup
// read from r. Everything is unpacked into a directory inside dataDir and
// checked against the manifest (sizes, SHA-256, the database's integrity)
// before anything is moved into place; on any error dataDir is left as it
// was found.
func Restore(ctx context.Context, r io.Reader, dataDir string) (m *Manifest, err error) {
	entries, err := os.ReadDir(dataDir)
	created := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		created = true
	case err != nil:
		return nil, fmt.Errorf("read data dir: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("the data directory %s is %w (it holds %s); restore only fills an empty or missing one, "+
			"so nothing was changed", dataDir, ErrNotEmpty, entries[0].Name())
	}
	stage, err := os.MkdirTemp(dataDir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("create restore dir: %w", err)
	}
	defer func() {
		os.RemoveAll(stage)
		if err != nil && created {
			os.Remove(dataDir)
		}
	}()
	m, err = unpack(ctx, r, stage)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if err := store.PrepareRestored(ctx, filepath.Join(stage, dbFile)); err != nil {
		return nil, err
	}
	names, err := os.ReadDir(stage)
	if err != nil {
		return nil, fmt.Errorf("read restore dir: %w", err)
	}
	var moved []string
	for _, e := range names {
		if err = os.Rename(filepath.Join(stage, e.Name()), filepath.Join(dataDir, e.Name())); err != nil {
			for _, name := range moved {
				os.RemoveAll(filepath.Join(dataDir, name))
			}
			return nil, fmt.Errorf("move restored %s into place: %w", e.Name(), err)
		}
		moved = append(moved, e.Name())
	}
	return m, nil
}

// unpack writes the archive's files under dir and checks them against its
// manifest: every listed file present with its size and hash, nothing else.
func unpack(ctx context.Context, r io.Reader, dir string) (*Manifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a berth backup (a tar.gz): %w", err)
	}
	tr := tar.NewReader(gz)
	got := map[string]File{}
	var m *Manifest
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the archive is damaged or cut short: %w", err)
		}
		if m != nil {
			return nil, errors.New("the archive has entries after its manifest")
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg || !allowedName(h.Name) {
			return nil, fmt.Errorf("the archive holds %q, which is not part of a berth backup", h.Name)
		}
		if _, dup := got[h.Name]; dup {
			return nil, fmt.Errorf("the archive holds %s twice", h.Name)
		}
		if h.Name == ManifestName {
			body, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
			if err != nil {
				return nil, fmt.Errorf("the archive is damaged or cut short: %w", err)
			}
			if len(body) > maxManifest {
				return nil, errors.New("the manifest is too large")
			}
			m = new(Manifest)
			if err := json.Unmarshal(body, m); err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			continue
		}
		f, err := writeFile(tr, dir, h.Name)
		if err != nil {
			return nil, err
		}
		got[h.Name] = f
	}
	// The gzip trailer's checksum is read at the end of the stream.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("the archive is damaged or cut short: %w", err)
	}
	if m == nil {
		return nil, errors.New("the archive has no manifest: it is cut short, or not a berth backup")
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	if len(m.Files) != len(got) {
		return nil, fmt.Errorf("the archive holds %d files; its manifest lists %d", len(got), len(m.Files))
	}
	for _, want := range m.Files {
		if have, ok := got[want.Name]; !ok || have != want {
			return nil, fmt.Errorf("%s does not match the manifest: the archive is damaged", want.Name)
		}
	}
	return m, nil
}

// writeFile copies one entry to dir/name (0600, directories 0700).
func writeFile(r io.Reader, dir, name string) (File, error) {
	dst := filepath.Join(dir, filepath.FromSlash(name))
	if !strings.HasPrefix(dst, dir+string(filepath.Separator)) {
		return File{}, fmt.Errorf("the archive holds %q, outside the data directory", name)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return File{}, fmt.Errorf("restore %s: %w", name, err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("restore %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("restore %s: the archive is damaged or cut short: %w", name, err)
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
