package serving

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/artifacts"
)

// maxManifests bounds the in-memory manifest cache.
const maxManifests = 512

// fileCache keeps artifact files on local disk by content hash (so a file
// shared by many deployments is stored once) and manifests in memory.
// Artifacts never change once ready, so entries never go stale.
type fileCache struct {
	dir   string
	store artifacts.Store
	group singleflight.Group

	mu        sync.Mutex
	manifests map[string]*artifacts.Manifest
	order     []string // insertion order, for eviction
}

func newFileCache(dir string, st artifacts.Store) (*fileCache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	return &fileCache{dir: dir, store: st, manifests: map[string]*artifacts.Manifest{}}, nil
}

func (c *fileCache) manifest(ctx context.Context, deploymentID, prefix string) (*artifacts.Manifest, error) {
	c.mu.Lock()
	m, ok := c.manifests[deploymentID]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	v, err, _ := c.group.Do("m:"+deploymentID, func() (any, error) {
		m, err := artifacts.GetManifest(context.WithoutCancel(ctx), c.store, prefix)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.order) >= maxManifests {
			delete(c.manifests, c.order[0])
			c.order = c.order[1:]
		}
		c.manifests[deploymentID] = m
		c.order = append(c.order, deploymentID)
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*artifacts.Manifest), nil
}

func (c *fileCache) forgetManifest(deploymentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.manifests, deploymentID)
}

// open returns the local copy of a file, downloading it once (concurrent
// requests share one download) and checking its hash against the manifest.
func (c *fileCache) open(ctx context.Context, key string, f artifacts.ManifestFile) (*os.File, error) {
	if len(f.SHA256) != 64 {
		return nil, errors.New("manifest entry has no hash")
	}
	p := filepath.Join(c.dir, "objects", f.SHA256[:2], f.SHA256)
	if file, err := os.Open(p); err == nil {
		return file, nil
	}
	_, err, _ := c.group.Do("f:"+f.SHA256, func() (any, error) {
		return nil, c.download(context.WithoutCancel(ctx), key, f, p)
	})
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func (c *fileCache) download(ctx context.Context, key string, f artifacts.ManifestFile, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	rc, _, err := c.store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".dl-*")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), rc); err != nil {
		tmp.Close()
		return fmt.Errorf("download %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cache file: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("download %s: content hash mismatch", key)
	}
	return os.Rename(tmp.Name(), dst)
}
