package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/model"
)

// Manifest describes one deployment's artifact: what kind of output it is
// and every file it serves. It is uploaded last, so its presence means the
// upload is complete; the static server resolves paths against it without a
// store round trip.
type Manifest struct {
	OutputType string                  `json:"output_type"`
	Files      map[string]ManifestFile `json:"files"` // slash path relative to the files prefix
}

// ManifestFile is one file's size and content hash.
type ManifestFile struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BuildManifest hashes every regular file under dir (symlinks skipped, like
// UploadDir).
func BuildManifest(dir, outputType string) (*Manifest, error) {
	m := &Manifest{OutputType: outputType, Files: map[string]ManifestFile{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		m.Files[filepath.ToSlash(rel)] = ManifestFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build manifest: %w", err)
	}
	return m, nil
}

// PutManifest uploads m as prefix + model.ManifestName.
func PutManifest(ctx context.Context, s Bucket, prefix string, m *Manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := s.Put(ctx, prefix+model.ManifestName, bytes.NewReader(data), int64(len(data)), "application/json"); err != nil {
		return fmt.Errorf("upload manifest: %w", err)
	}
	return nil
}

// GetManifest downloads and decodes prefix + model.ManifestName.
func GetManifest(ctx context.Context, s Bucket, prefix string) (*Manifest, error) {
	rc, _, err := s.Get(ctx, prefix+model.ManifestName)
	if err != nil {
		return nil, fmt.Errorf("get manifest: %w", err)
	}
	defer rc.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(rc, 256<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return &m, nil
}
