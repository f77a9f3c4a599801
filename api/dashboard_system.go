package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// The disk page is for administrators: what berth keeps where, the free
// space of the data directory, the last retention run, and a button to
// run retention now.

// diskRow is one line of the disk page.
type diskRow struct {
	What, Size, Note string
}

// systemView is the disk page's data.
type systemView struct {
	Rows      []diskRow
	Free      string
	Total     string
	Last      *store.RetentionRun
	Reclaimed string // by the last run
	Errors    []string
}

func (d *dashboard) handleSystem(c echo.Context) error {
	if err := requireSystemAdmin(c); err != nil {
		return d.fail(c, err)
	}
	r, err := d.s.diskReport(c)
	if err != nil {
		return d.fail(c, err)
	}
	v := systemView{Free: formatBytes(r.FreeBytes), Total: formatBytes(r.TotalBytes), Last: r.LastRetention, Errors: r.Errors}
	if r.LastRetention != nil {
		v.Reclaimed = formatBytes(r.LastRetention.ReclaimedBytes)
	}
	artifacts := "in the local artifact directory"
	if r.ArtifactStore == "s3" {
		artifacts = "in the S3 bucket"
	}
	v.Rows = []diskRow{
		{"Database (SQLite)", formatBytes(r.SQLiteBytes), "with its write-ahead log"},
		{"Build queue (JetStream)", formatBytes(r.QueueBytes), ""},
		{"Artifacts", formatBytes(r.ArtifactBytes), fmt.Sprintf("%d objects %s", r.ArtifactObjects, artifacts)},
		{"File cache", formatBytes(r.CacheBytes), "served files, least recently used go first"},
		{"Build cache", formatBytes(r.BuildCacheBytes), "dependencies and framework caches per project"},
		{"Containers", formatBytes(r.ContainerBytes), fmt.Sprintf("%d of berth's on the Docker engine", r.Containers)},
		{"Images", formatBytes(r.ImageBytes), "the build and runtime images"},
	}
	return d.render(c, http.StatusOK, "system", pageView{Title: "Disk", Nav: "system", Page: v})
}

func (d *dashboard) handleRunRetention(c echo.Context) error {
	if err := requireSystemAdmin(c); err != nil {
		return d.fail(c, err)
	}
	// A failed part is recorded with the run and shown on the page.
	d.s.deps.Deploys.RunRetention(context.WithoutCancel(c.Request().Context()))
	return seeOther(c, "/system?done=retention")
}

// formatBytes writes n for people: 1.5 GB, 320 KB, 12 B.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
