package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/internal/humanize"
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
	v := systemView{Free: humanize.Bytes(r.FreeBytes), Total: humanize.Bytes(r.TotalBytes), Last: r.LastRetention, Errors: r.Errors}
	if r.LastRetention != nil {
		v.Reclaimed = humanize.Bytes(r.LastRetention.ReclaimedBytes)
	}
	artifacts := "in the local artifact directory"
	if r.ArtifactStore == "s3" {
		artifacts = "in the S3 bucket"
	}
	v.Rows = []diskRow{
		{"Database (SQLite)", humanize.Bytes(r.SQLiteBytes), "with its write-ahead log"},
		{"Build queue (JetStream)", humanize.Bytes(r.QueueBytes), ""},
		{"Artifacts", humanize.Bytes(r.ArtifactBytes), fmt.Sprintf("%d objects %s", r.ArtifactObjects, artifacts)},
		{"File cache", humanize.Bytes(r.CacheBytes), "served files, least recently used go first"},
		{"Build cache", humanize.Bytes(r.BuildCacheBytes), "dependencies and framework caches per project"},
		{"Containers", humanize.Bytes(r.ContainerBytes), fmt.Sprintf("%d of berth's on the Docker engine", r.Containers)},
		{"Images", humanize.Bytes(r.ImageBytes), "the build and runtime images"},
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
