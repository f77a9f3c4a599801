package serving

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/artifacts"
)

// Limits of the hot cache.
const (
	// DefaultMemoryCacheBytes is the default budget of file bytes held in memory.
	DefaultMemoryCacheBytes = 64 << 20
	// memBodyMax is the largest representation held in memory. Larger ones
	// go from the disk cache with sendfile, which on loopback beats copying
	// a large buffer through the socket.
	memBodyMax = 64 << 10
	// Files outside these sizes are sent as they are.
	compressMin = 512
	compressMax = 32 << 20
	// maxHotFiles bounds the entries, most of which hold no bytes.
	maxHotFiles = 50000
)

// variant is one representation of a file: where its bytes are and the
// header values that describe it, made once so a request allocates nothing
// to send them.
type variant struct {
	path   string // in the disk cache
	data   []byte // in memory, or nil: read from path
	etag   []string
	length []string
	encHdr []string // Content-Encoding, nil for identity
	size   int64
}

// hotFile is a file's representations: always identity, and gzip and zstd
// when the file compresses well.
type hotFile struct {
	v    [numEncodings]*variant
	have [numEncodings]bool
	vary bool  // has a compressed variant: answers depend on Accept-Encoding
	cost int64 // bytes held in memory
	used atomic.Int64
}

// hotCache keeps hot files' representations, by content hash, with their
// small bodies in memory up to a byte budget, least recently used first out.
// The bodies live in the content-addressed disk cache, compressed ones
// beside the original, so they are compressed once per content hash, not
// once per process.
type hotCache struct {
	max   int64
	group singleflight.Group

	mu    sync.RWMutex
	files map[string]*hotFile
	size  int64
}

func newHotCache(maxBytes int64) *hotCache {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryCacheBytes
	}
	return &hotCache{max: maxBytes, files: map[string]*hotFile{}}
}

// hot returns a file's representations, loading them (and downloading,
// compressing) on first use; concurrent callers share the work.
func (c *fileCache) hot(ctx context.Context, key, name string, f artifacts.ManifestFile) (*hotFile, error) {
	hc := c.hotFiles
	hc.mu.RLock()
	hf, ok := hc.files[f.SHA256]
	hc.mu.RUnlock()
	if ok {
		hf.used.Store(time.Now().UnixNano())
		return hf, nil
	}
	v, err, _ := hc.group.Do(f.SHA256, func() (any, error) {
		hc.mu.RLock()
		hf, ok := hc.files[f.SHA256]
		hc.mu.RUnlock()
		if ok {
			return hf, nil
		}
		ctx := context.WithoutCancel(ctx)
		p, err := c.fetch(ctx, key, f)
		if err != nil {
			return nil, err
		}
		hf, created, err := loadHot(p, f, compressibleName(name))
		if err != nil {
			return nil, err
		}
		// The disk cache prunes by modification time: this file is in use.
		now := time.Now()
		os.Chtimes(p, now, now)
		c.added(created)
		hc.add(f.SHA256, hf)
		return hf, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*hotFile), nil
}

// loadHot builds the representations of the file at p, compressing it first
// when compress is set and no compressed copy exists yet; created is the
// bytes of compressed copies it wrote.
func loadHot(p string, f artifacts.ManifestFile, compress bool) (hf *hotFile, created int64, err error) {
	hf = &hotFile{}
	tag := f.SHA256[:32]
	hf.v[encIdentity] = &variant{path: p, size: f.Size}
	if compress && f.Size >= compressMin && f.Size <= compressMax {
		for _, e := range []encoding{encGzip, encZstd} {
			cp := p + encodingSuffix[e]
			size, made, err := ensureCompressed(p, cp, e, f.Size)
			if err != nil {
				return nil, 0, err
			}
			if made {
				created += size
			}
			// Keep a variant only when it saves a tenth or more.
			if size*10 <= f.Size*9 {
				hf.v[e] = &variant{path: cp, size: size, encHdr: []string{encodingNames[e]}}
				hf.vary = true
			}
		}
	}
	for e, v := range hf.v {
		if v == nil {
			continue
		}
		hf.have[e] = true
		if e == int(encIdentity) {
			v.etag = []string{`"` + tag + `"`}
		} else {
			v.etag = []string{`"` + tag + "-" + encodingNames[e] + `"`}
		}
		v.length = []string{strconv.FormatInt(v.size, 10)}
		if v.size <= memBodyMax {
			data, err := os.ReadFile(v.path)
			if err != nil {
				return nil, 0, fmt.Errorf("read cached file: %w", err)
			}
			if int64(len(data)) != v.size {
				return nil, 0, fmt.Errorf("cached file %s has %d bytes, want %d", filepath.Base(v.path), len(data), v.size)
			}
			v.data = data
			hf.cost += v.size
		}
	}
	hf.used.Store(time.Now().UnixNano())
	return hf, created, nil
}

// ensureCompressed writes src compressed with e to dst unless dst exists,
// and returns dst's size and whether it wrote it.
func ensureCompressed(src, dst string, e encoding, srcSize int64) (size int64, made bool, err error) {
	if fi, err := os.Stat(dst); err == nil {
		return fi.Size(), false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, false, err
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, false, fmt.Errorf("open cached file: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".z-*")
	if err != nil {
		return 0, false, fmt.Errorf("create compressed file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := compressTo(tmp, in, e, srcSize); err != nil {
		tmp.Close()
		return 0, false, fmt.Errorf("compress %s: %w", filepath.Base(src), err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, false, err
	}
	if err := tmp.Close(); err != nil {
		return 0, false, fmt.Errorf("write compressed file: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, false, fmt.Errorf("store compressed file: %w", err)
	}
	return fi.Size(), true, nil
}

// compressTo compresses r into w: at the best ratio for files of up to a
// megabyte (done once per content hash, and served many times), at the
// default level for larger ones so a first request does not wait long.
func compressTo(w io.Writer, r io.Reader, e encoding, size int64) error {
	big := size > 1<<20
	var zw io.WriteCloser
	switch e {
	case encGzip:
		level := gzip.BestCompression
		if big {
			level = gzip.DefaultCompression
		}
		gw, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return err
		}
		zw = gw
	case encZstd:
		level := zstd.SpeedBestCompression
		if big {
			level = zstd.SpeedDefault
		}
		enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(min(zstd.MaxWindowSize, max(zstd.MinWindowSize, nextPow2(size)))))
		if err != nil {
			return err
		}
		zw = enc
	default:
		return fmt.Errorf("unknown encoding %d", e)
	}
	if _, err := io.Copy(zw, r); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

func nextPow2(n int64) int {
	p := 1
	for int64(p) < n && p < 1<<30 {
		p <<= 1
	}
	return p
}

// add stores hf, evicting the least recently used files while the memory
// budget or the entry cap is exceeded.
func (hc *hotCache) add(sha string, hf *hotFile) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	hc.files[sha] = hf
	hc.size += hf.cost
	if hc.size <= hc.max && len(hc.files) <= maxHotFiles {
		return
	}
	type aged struct {
		sha  string
		used int64
	}
	all := make([]aged, 0, len(hc.files))
	for k, f := range hc.files {
		if k != sha {
			all = append(all, aged{k, f.used.Load()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return int(min(max(a.used-b.used, -1), 1)) })
	// Evict down to 90% so that the next few additions do not sort again.
	for _, a := range all {
		if hc.size <= hc.max*9/10 && len(hc.files) <= maxHotFiles*9/10 {
			break
		}
		hc.size -= hc.files[a.sha].cost
		delete(hc.files, a.sha)
	}
}

// bytes reports the file bytes held in memory.
func (hc *hotCache) bytes() int64 {
	hc.mu.RLock()
	defer hc.mu.RUnlock()
	return hc.size
}
