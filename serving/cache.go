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
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/artifacts"
)

// maxManifests bounds the in-memory manifest cache.
const maxManifests = 512

// fileCache keeps artifact files on local disk by content hash (so a file
// shared by many deployments is stored once), with their compressed
// variants beside them, manifests in memory, and hot files' small bodies in
// memory too. Artifacts never change once ready, so entries never go stale.
type fileCache struct {
	dir      string
	store    artifacts.Bucket
	group    singleflight.Group
	hotFiles *hotCache    // representations of hot files, small ones in memory
	hdr      headerValues // constant header values, shared by every answer

	maxDisk  int64        // size cap of the files under dir
	diskSize atomic.Int64 // bytes under dir, as of the last prune plus what was added since
	pruning  sync.Mutex

	mu        sync.RWMutex
	manifests map[string]*site
	order     []string // insertion order, for eviction
}

// site is one deployment's manifest with what berth works out once per
// file it serves: the header values that depend on the file's name.
type site struct {
	m     *artifacts.Manifest
	err   error    // the manifest is invalid: the deployment is not served
	names sync.Map // file name -> *fileMeta
}

// fileMeta holds a served file's name-dependent header values.
type fileMeta struct {
	contentType []string
	cacheOK     []string // Cache-Control of a 200 answer
}

func (s *site) meta(name string) *fileMeta {
	if v, ok := s.names.Load(name); ok {
		return v.(*fileMeta)
	}
	cc := cacheRevalidate
	if isHashed(name) {
		cc = cacheImmutable
	}
	fm := &fileMeta{contentType: []string{artifacts.ContentType(name)}, cacheOK: []string{cc}}
	s.names.Store(name, fm)
	return fm
}

// newFileCache keeps up to diskBytes of files under dir (0:
// DefaultDiskCacheBytes) and holds up to memBytes of hot file bytes in
// memory (0: DefaultMemoryCacheBytes).
func newFileCache(dir string, st artifacts.Bucket, memBytes, diskBytes int64) (*fileCache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	if diskBytes <= 0 {
		diskBytes = DefaultDiskCacheBytes
	}
	c := &fileCache{dir: dir, store: st, hotFiles: newHotCache(memBytes), hdr: newHeaderValues(), manifests: map[string]*site{},
		maxDisk: diskBytes}
	if err := c.prune(); err != nil {
		return nil, err
	}
	return c, nil
}

// headerValues are header values set by direct map assignment: made once,
// never modified (a handler adding to one gets a copy, as its capacity is
// its length).
type headerValues struct {
	nosniff, revalidate, vary, bytes []string
}

func newHeaderValues() headerValues {
	return headerValues{
		nosniff:    []string{"nosniff"},
		revalidate: []string{cacheRevalidate},
		vary:       []string{"Accept-Encoding"},
		bytes:      []string{"bytes"},
	}
}

// site returns a deployment's manifest, fetched and validated once. An
// invalid manifest is remembered too (as an error wrapping
// artifacts.ErrInvalidManifest), so it is not downloaded again per request.
func (c *fileCache) site(ctx context.Context, deploymentID, prefix string) (*site, error) {
	c.mu.RLock()
	s, ok := c.manifests[deploymentID]
	c.mu.RUnlock()
	if ok {
		return s, s.err
	}
	v, err, _ := c.group.Do("m:"+deploymentID, func() (any, error) {
		m, err := artifacts.GetManifest(context.WithoutCancel(ctx), c.store, prefix)
		if err != nil && !errors.Is(err, artifacts.ErrInvalidManifest) {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.order) >= maxManifests {
			delete(c.manifests, c.order[0])
			c.order = c.order[1:]
		}
		s := &site{m: m, err: err}
		c.manifests[deploymentID] = s
		c.order = append(c.order, deploymentID)
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	s = v.(*site)
	return s, s.err
}

func (c *fileCache) forgetManifest(deploymentID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.manifests, deploymentID)
}

// fetch returns the path of the local copy of a file, downloading it once
// (concurrent requests share one download) and checking its hash against
// the manifest.
func (c *fileCache) fetch(ctx context.Context, key string, f artifacts.ManifestFile) (string, error) {
	p, err := c.objectPath(f.SHA256)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	_, err, _ = c.group.Do("f:"+f.SHA256, func() (any, error) {
		return nil, c.download(context.WithoutCancel(ctx), key, f, p)
	})
	if err != nil {
		return "", err
	}
	return p, nil
}

// objectPath is where the file with content hash sha is kept. The path is
// made from the hash alone, and only from a well-formed one, so no manifest
// can name a file outside the cache.
func (c *fileCache) objectPath(sha string) (string, error) {
	if !artifacts.ValidHash(sha) {
		return "", fmt.Errorf("%w: bad content hash", artifacts.ErrInvalidManifest)
	}
	objects := filepath.Join(c.dir, "objects")
	p := filepath.Join(objects, sha[:2], sha)
	if !strings.HasPrefix(p, objects+string(filepath.Separator)) {
		return "", fmt.Errorf("cache path of %s escapes the cache", sha)
	}
	return p, nil
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
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	c.added(f.Size)
	return nil
}
