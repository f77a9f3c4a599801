package serving

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
)

// DefaultDiskCacheBytes is the default size cap of the disk cache.
const DefaultDiskCacheBytes = 10 << 30

// staleTemp is the age past which a download or compression left half
// done (by a crash) is removed.
const staleTemp = time.Hour

// added records bytes written to the disk cache, pruning it when it passes
// its cap.
func (c *fileCache) added(n int64) {
	if c.diskSize.Add(n) > c.maxDisk {
		c.prune()
	}
}

// prune brings the disk cache under its cap: it removes the files of the
// content hashes used least recently (a hash's file and its compressed
// variants go together) until the cache holds 90% of the cap, so that the
// next few downloads do not prune again. A file's last use is the later of
// its modification time (set when it is loaded into the hot cache) and its
// hot cache entry's. Only one prune runs at a time; a caller that finds
// one running leaves the work to it.
func (c *fileCache) prune() error {
	if !c.pruning.TryLock() {
		return nil
	}
	defer c.pruning.Unlock()
	type object struct {
		sha   string
		paths []string
		size  int64
		used  int64
	}
	objects := map[string]*object{}
	var total int64
	root := filepath.Join(c.dir, "objects")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") { // a download or compression in progress
			if time.Since(fi.ModTime()) > staleTemp {
				os.Remove(p)
			}
			return nil
		}
		sha := name[:min(len(name), 64)]
		o := objects[sha]
		if o == nil {
			o = &object{sha: sha}
			objects[sha] = o
		}
		o.paths = append(o.paths, p)
		o.size += fi.Size()
		o.used = max(o.used, fi.ModTime().UnixNano())
		total += fi.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune file cache: %w", err)
	}
	if total > c.maxDisk {
		all := make([]*object, 0, len(objects))
		hc := c.hotFiles
		hc.mu.RLock()
		for _, o := range objects {
			if hf, ok := hc.files[o.sha]; ok {
				o.used = max(o.used, hf.used.Load())
			}
			all = append(all, o)
		}
		hc.mu.RUnlock()
		slices.SortFunc(all, func(a, b *object) int { return int(min(max(a.used-b.used, -1), 1)) })
		for _, o := range all {
			if total <= c.maxDisk*9/10 {
				break
			}
			// Out of the hot cache first, so no new request is sent to a
			// path about to go; one already sent falls back (see serveFile).
			hc.remove(o.sha)
			for _, p := range o.paths {
				os.Remove(p)
			}
			total -= o.size
		}
	}
	c.diskSize.Store(total)
	return nil
}

// remove drops a file's representations.
func (hc *hotCache) remove(sha string) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hf, ok := hc.files[sha]; ok {
		hc.size -= hf.cost
		delete(hc.files, sha)
	}
}

// forgetFiles removes from the disk cache the files of deleted deployments
// (whose manifests are in manifests) that no manifest still held in memory
// uses. Files are shared by content between deployments; one still used by
// a deployment whose manifest is not in memory is downloaded again when it
// is next asked for: the cache is only a cache.
func (c *fileCache) forgetFiles(manifests []*artifacts.Manifest) (removed int64) {
	c.mu.RLock()
	inUse := map[string]bool{}
	for _, s := range c.manifests {
		if s.m == nil {
			continue
		}
		for _, f := range s.m.Files {
			inUse[f.SHA256] = true
		}
	}
	c.mu.RUnlock()
	for _, m := range manifests {
		for _, f := range m.Files {
			if inUse[f.SHA256] {
				continue
			}
			p, err := c.objectPath(f.SHA256)
			if err != nil {
				continue
			}
			c.hotFiles.remove(f.SHA256)
			paths, _ := filepath.Glob(p + "*") // the file and its compressed variants
			for _, q := range paths {
				if fi, err := os.Stat(q); err == nil && os.Remove(q) == nil {
					removed += fi.Size()
				}
			}
			inUse[f.SHA256] = true // done: a file listed twice is removed once
		}
	}
	c.diskSize.Add(-removed)
	return removed
}
