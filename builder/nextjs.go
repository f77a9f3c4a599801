package builder

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// uploadNext stores a Next.js standalone build as two parts: the server
// (standalone folder with .next/static and public copied in, as Next.js
// documents) in ONE gzipped tar, so upload time does not grow with the
// thousands of files in its node_modules; and the static assets
// (_next/static/* and public/*) as files, which berth serves itself.
func (p *Pool) uploadNext(ctx context.Context, containerID, workdir, dir, prefix string, em *emitter) error {
	server := filepath.Join(dir, "server")
	if err := p.copyOut(ctx, containerID, path.Join(workdir, ".next/standalone"), server); err != nil {
		return err
	}
	static := filepath.Join(server, ".next", "static")
	if err := p.copyOut(ctx, containerID, path.Join(workdir, ".next/static"), static); err != nil {
		return err
	}
	public := filepath.Join(server, "public")
	info, err := p.sb.Stat(ctx, containerID, path.Join(workdir, "public"))
	if err != nil {
		return fmt.Errorf("inspect public folder: %w", err)
	}
	if info.Exists && info.IsDir {
		if err := p.copyOut(ctx, containerID, path.Join(workdir, "public"), public); err != nil {
			return err
		}
	}

	started := time.Now()
	manifest := &artifacts.Manifest{OutputType: model.OutputNextStandalone, Files: map[string]artifacts.ManifestFile{}}
	files, err := p.uploadStatic(ctx, manifest, prefix, []staticPart{{static, "_next/static/"}, {public, ""}})
	if err != nil {
		return err
	}
	size, err := p.uploadBundle(ctx, server, prefix+model.ServerBundle)
	if err != nil {
		return err
	}
	if err := artifacts.PutManifest(ctx, p.store, prefix, manifest); err != nil {
		return err
	}
	em.system("Uploaded the server bundle (%s) and %d static files in %s.", humanize.Bytes(size), files, time.Since(started).Round(10*time.Millisecond))
	return nil
}

// staticPart is a folder of a server's build whose files berth serves
// itself, under the key prefix (a URL path, "" for the root).
type staticPart struct{ dir, key string }

// uploadStatic uploads the files of the parts that exist and lists them in
// the manifest; it returns how many it uploaded.
func (p *Pool) uploadStatic(ctx context.Context, manifest *artifacts.Manifest, prefix string, parts []staticPart) (int, error) {
	var files int
	for _, part := range parts {
		if _, err := os.Stat(part.dir); err != nil {
			continue
		}
		m, err := artifacts.BuildManifest(part.dir, manifest.OutputType)
		if err != nil {
			return 0, err
		}
		for name, f := range m.Files {
			manifest.Files[part.key+name] = f
		}
		n, _, err := artifacts.UploadDir(ctx, p.store, part.dir, prefix+model.FilesDir+part.key, p.cfg.UploadParallel)
		if err != nil {
			return 0, fmt.Errorf("upload static assets: %w", err)
		}
		files += n
	}
	return files, nil
}

// uploadBundle streams dir as a gzipped tar into the store and returns its size.
func (p *Pool) uploadBundle(ctx context.Context, dir, key string) (int64, error) {
	pr, pw := io.Pipe()
	var size atomic.Int64
	go func() {
		cw := &countingWriter{w: pw, n: &size}
		zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
		err := sandbox.TarDir(zw, dir, "", nil)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	err := p.store.Put(ctx, key, pr, -1, "application/gzip")
	pr.CloseWithError(err)
	if err != nil {
		return 0, fmt.Errorf("upload server bundle: %w", err)
	}
	return size.Load(), nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
