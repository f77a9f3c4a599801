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
	"time"

	"github.com/berth-dev/berth/store"
)

// Source says what to back up.
type Source struct {
	DataDir      string
	BerthVersion string
	// Artifacts adds the local artifact directory (data/artifacts), for
	// an instance that keeps its artifacts on this disk, not in S3.
	Artifacts bool
}

// Create writes a backup of src to w as a tar.gz. The database is copied
// first (VACUUM INTO a temporary file in the data directory), so a
// running berth goes on working; the manifest is the last entry.
func Create(ctx context.Context, w io.Writer, src Source) (*Manifest, error) {
	if _, err := os.Stat(filepath.Join(src.DataDir, keyFile)); err != nil {
		return nil, fmt.Errorf("%s holds no berth data (no %s): %w", src.DataDir, keyFile, err)
	}
	removeStale(src.DataDir)
	tmp, err := os.MkdirTemp(src.DataDir, ".backup-")
	if err != nil {
		return nil, fmt.Errorf("create backup work dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := filepath.Join(tmp, dbFile)
	schema, err := store.Snapshot(ctx, filepath.Join(src.DataDir, dbFile), snap)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, CreatedAt: time.Now().UTC().Truncate(time.Second), BerthVersion: src.BerthVersion,
		Schema: schema, Artifacts: src.Artifacts}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	add := func(name, path string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := addFile(tw, name, path)
		if err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
		m.Files = append(m.Files, f)
		return nil
	}
	if err := add(dbFile, snap); err != nil {
		return nil, err
	}
	if err := add(keyFile, filepath.Join(src.DataDir, keyFile)); err != nil {
		return nil, err
	}
	for _, optional := range []string{instanceFile, workerFile, workerKeyFile} {
		if err := add(optional, filepath.Join(src.DataDir, filepath.FromSlash(optional))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if src.Artifacts {
		root := filepath.Join(src.DataDir, artifactsDir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(src.DataDir, p)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			if strings.HasPrefix(d.Name(), ".berth-tmp-") || !allowedName(name) {
				return nil // a temporary file of an upload under way
			}
			err = add(name, p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted since the walk saw it
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("archive artifacts: %w", err)
		}
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(body)), ModTime: m.CreatedAt,
		Typeflag: tar.TypeReg}); err != nil {
		return nil, fmt.Errorf("archive manifest: %w", err)
	}
	if _, err := tw.Write(body); err != nil {
		return nil, fmt.Errorf("archive manifest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("finish archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("finish archive: %w", err)
	}
	return m, nil
}

// addFile writes the file at path into tw as name, hashing what it wrote.
func addFile(tw *tar.Writer, name, path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: info.Size(), ModTime: info.ModTime(),
		Typeflag: tar.TypeReg}); err != nil {
		return File{}, err
	}
	h := sha256.New()
	// The size in the header is what the tar holds: a file that grew since
	// the stat is cut there, one that shrank fails the write.
	n, err := io.Copy(tw, io.TeeReader(io.LimitReader(f, info.Size()), h))
	if err != nil {
		return File{}, err
	}
	if n != info.Size() {
		return File{}, fmt.Errorf("%s shrank while being archived", name)
	}
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// removeStale removes the work files of backups that were killed before
// they could clean up: a day old is older than any backup takes.
func removeStale(dataDir string) {
	stale, _ := filepath.Glob(filepath.Join(dataDir, ".backup-*"))
	for _, p := range stale {
		if info, err := os.Stat(p); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(p)
		}
	}
}
