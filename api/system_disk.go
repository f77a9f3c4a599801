package api

import (
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// DiskReport is what berth keeps on disk and in the artifact store, and
// what the last retention run deleted.
type DiskReport struct {
	DataDir    string `json:"data_dir"`
	FreeBytes  int64  `json:"free_bytes"`  // available to berth on the data directory's filesystem
	TotalBytes int64  `json:"total_bytes"` // size of that filesystem

	SQLiteBytes     int64 `json:"sqlite_bytes"` // the database with its WAL
	QueueBytes      int64 `json:"queue_bytes"`  // the JetStream store
	CacheBytes      int64 `json:"cache_bytes"`  // the disk cache of served files
	BuildCacheBytes int64 `json:"build_cache_bytes"`

	ArtifactStore   string `json:"artifact_store"` // "local" or "s3"
	ArtifactBytes   int64  `json:"artifact_bytes"`
	ArtifactObjects int64  `json:"artifact_objects"`

	Containers     int   `json:"containers"`      // berth's containers on the Docker engine
	ContainerBytes int64 `json:"container_bytes"` // their writable layers
	ImageBytes     int64 `json:"image_bytes"`     // the build and runtime images

	LastRetention *store.RetentionRun `json:"last_retention"`
	// Errors names the parts that could not be measured (their numbers are 0).
	Errors []string `json:"errors,omitempty"`
}

func requireSystemAdmin(c echo.Context) error {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		return store.Errorf(store.EFORBIDDEN, "Only an administrator may see or manage the server's disk.")
	}
	return nil
}

// diskReport measures the disk and adds the last retention run.
func (s *Handler) diskReport(c echo.Context) (DiskReport, error) {
	ctx := c.Request().Context()
	var r DiskReport
	if s.deps.Disk != nil {
		var err error
		if r, err = s.deps.Disk(ctx); err != nil {
			// A part that cannot be measured (Docker down, S3 away) does
			// not hide the others.
			s.deps.Log.Warn("measure disk", slog.Any("error", err))
			r.Errors = append(r.Errors, err.Error())
		}
	}
	last, err := s.deps.DB.LastRetentionRun(ctx)
	if err != nil {
		return r, err
	}
	r.LastRetention = last
	return r, nil
}

// handleDisk: GET /v1/system/disk (administrators).
func (s *Handler) handleDisk(c echo.Context) error {
	if err := requireSystemAdmin(c); err != nil {
		return err
	}
	r, err := s.diskReport(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}
