package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/model"
)

// Manifest describes one deployment's artifact: what kind of output it is
// and every file it serves. It is uploaded last, so its presence means the
// upload is complete; the static server resolves paths against it without a
// store round trip.
type Manifest struct {
	OutputType string                  `json:"output_type"`
	Files      map[string]ManifestFile `json:"files"` // slash path relative to the files prefix
	// Start is the command a server output runs (argv, no shell), when its
	// type does not imply one.
	Start []string `json:"start,omitempty"`
	// Dir is the folder of the server bundle Start runs in, a slash path
	// relative to it ("" for its root): the app's folder of a workspace
	// bundled whole, with the node_modules at the workspace's root.
	Dir string `json:"dir,omitempty"`
	// Port is the port a docker-image server listens on: the project's
	// port setting, else the image's first EXPOSE, else 3000.
	Port int `json:"port,omitempty"`
	// Env holds variables the start command needs, KEY=value, such as
	// the headers berth's proxy sets for a framework that reads them.
	Env []string `json:"env,omitempty"`
}

// ManifestFile is one file's size and content hash.
type ManifestFile struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Limits of a manifest read back from the bucket. A real app with thousands
// of files is far below them; anyone who can write to the bucket is not
// trusted to stay below them.
const (
	MaxManifestFiles = 200_000
	MaxManifestBytes = 64 << 20
)

// ErrInvalidManifest marks a manifest that breaks the rules of Validate: its
// deployment is not served.
var ErrInvalidManifest = errors.New("invalid manifest")

// Validate checks what serving relies on: every name is a clean relative
// slash path (it becomes an object key and a URL) and every hash is 64
// lowercase hex digits (it becomes a file name in the disk cache).
func (m *Manifest) Validate() error {
	if len(m.Files) > MaxManifestFiles {
		return fmt.Errorf("%w: %d files, at most %d", ErrInvalidManifest, len(m.Files), MaxManifestFiles)
	}
	for name, f := range m.Files {
		if !ValidName(name) {
			return fmt.Errorf("%w: file name %q", ErrInvalidManifest, name)
		}
		if !ValidHash(f.SHA256) {
			return fmt.Errorf("%w: hash of %q", ErrInvalidManifest, name)
		}
		if f.Size < 0 {
			return fmt.Errorf("%w: size of %q", ErrInvalidManifest, name)
		}
	}
	return nil
}

// ValidName reports whether name is a clean relative slash path: not empty,
// no leading "/", no "." or ".." segment, no "//", no backslash, no NUL.
func ValidName(name string) bool {
	return name != "" && name != "." && !strings.HasPrefix(name, "/") && !strings.ContainsAny(name, "\\\x00") &&
		path.Clean(name) == name && name != ".." && !strings.HasPrefix(name, "../")
}

// ValidHash reports whether h is a SHA-256 in lowercase hex.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// BuildManifest hashes every regular file under dir (symlinks skipped, like
// UploadDir, and so are files whose names Validate would refuse, such as a
// name with a backslash: they could not be served).
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
		if !ValidName(filepath.ToSlash(rel)) {
			return nil
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

// GetManifest downloads, decodes and validates prefix + model.ManifestName.
// A manifest that is too large or breaks the rules of Validate is an error
// wrapping ErrInvalidManifest.
func GetManifest(ctx context.Context, s Bucket, prefix string) (*Manifest, error) {
	rc, obj, err := s.Get(ctx, prefix+model.ManifestName)
	if err != nil {
		return nil, fmt.Errorf("get manifest: %w", err)
	}
	defer rc.Close()
	if obj.Size > MaxManifestBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidManifest, obj.Size, MaxManifestBytes)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrInvalidManifest, MaxManifestBytes)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
