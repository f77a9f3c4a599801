package main

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/sandbox"
)

// diskReport measures what berth keeps on disk and in the artifact store.
// It walks the directories, so it costs a moment on a large cache; it is
// asked for by an administrator, not on every request.
func (m *Main) diskReport(ctx context.Context) (api.DiskReport, error) {
	cfg := m.cfg
	r := api.DiskReport{DataDir: cfg.DataDir, ArtifactStore: m.artifacts.Name()}
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.DataDir, &st); err == nil {
		r.FreeBytes = int64(st.Bavail) * int64(st.Bsize)
		r.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
	}
	for _, name := range []string{"berth.db", "berth.db-wal", "berth.db-shm"} {
		r.SQLiteBytes += dirSize(filepath.Join(cfg.DataDir, name))
	}
	r.QueueBytes = dirSize(filepath.Join(cfg.DataDir, "jetstream"))
	r.CacheBytes = dirSize(filepath.Join(cfg.DataDir, "cache"))
	if dir := buildCacheDir(cfg); dir != "" {
		r.BuildCacheBytes = dirSize(dir)
	}
	var errs []error
	if err := m.artifacts.List(ctx, "", func(o artifacts.Object) error {
		r.ArtifactBytes += o.Size
		r.ArtifactObjects++
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	u, err := m.sandbox.Usage(ctx, map[string]string{sandbox.LabelInstance: m.instance}, cfg.BuildImage, cfg.RuntimeImage)
	if err != nil {
		errs = append(errs, err)
	}
	r.Containers, r.ContainerBytes, r.ImageBytes = u.Containers, u.ContainerBytes, u.ImageBytes
	return r, errors.Join(errs...)
}

// dirSize is the bytes of the regular files under path (or of path itself);
// what cannot be read counts nothing.
func dirSize(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
