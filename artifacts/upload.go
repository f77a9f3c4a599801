package artifacts

import (
	"context"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// UploadDir uploads every regular file under dir to prefix+relpath (slash-separated), with at most
// `parallel` uploads in flight (errgroup with SetLimit), content type from ContentType.
// Symlinks inside dir are skipped (never followed). Returns files and bytes uploaded.
// Cancelling ctx stops it promptly.
func UploadDir(ctx context.Context, s Bucket, dir, prefix string, parallel int) (files int, bytes int64, err error) {
	// Walking and opening through an os.Root means a path swapped for a symlink after the
	// walk still cannot reach outside dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("upload dir %s: %w", dir, err)
	}
	defer root.Close()
	fsys := root.FS()

	var nFiles, nBytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	walkErr := fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := gctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked, symlinks and devices skipped
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err // cancelled while this file waited for a slot
			}
			n, err := uploadFile(gctx, s, fsys, d, rel, prefix+rel)
			if err != nil {
				return err
			}
			nFiles.Add(1)
			nBytes.Add(n)
			return nil
		})
		return nil
	})
	// An upload's error wins: a walk it stopped only reports gctx's cancellation.
	err = g.Wait()
	if walkErr != nil && err == nil {
		err = fmt.Errorf("upload dir %s: %w", dir, walkErr)
	}
	if err == nil {
		err = ctx.Err() // cancelled after the last upload started but before the walk ended
	}
	return int(nFiles.Load()), nBytes.Load(), err
}

// uploadFile uploads one walked file, refusing it if it is no longer the regular file the
// walk saw.
func uploadFile(ctx context.Context, s Bucket, fsys fs.FS, d fs.DirEntry, rel, key string) (int64, error) {
	walked, err := d.Info()
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", rel, err)
	}
	f, err := fsys.Open(rel)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", rel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() || !os.SameFile(fi, walked) {
		return 0, fmt.Errorf("upload %s: file changed during upload", rel)
	}
	if err := s.Put(ctx, key, f, fi.Size(), ContentType(rel)); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// contentTypes wins over mime.TypeByExtension, whose answers depend on the host's
// /etc/mime.types; these must not change between machines.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".cjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".wasm":        "application/wasm",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".pdf":         "application/pdf",
}

// ContentType returns the content type for a file name, the same table UploadDir uses (exported for the static file server).
func ContentType(name string) string {
	ext := strings.ToLower(path.Ext(filepath.ToSlash(name)))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
