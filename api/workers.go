package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// Workers is what the server knows of the build workers: the last
// heartbeat of each (queue.Directory).
type Workers interface {
	List() []queue.WorkerStatus
}

// workerJSON is a build worker as the API shows it.
type workerJSON struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Version   string    `json:"version"`
	Labels    []string  `json:"labels"`
	Running   int       `json:"running"`
	Capacity  int       `json:"capacity"`
	Draining  bool      `json:"draining"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	Gone      bool      `json:"gone"`
}

func requireWorkersAdmin(c echo.Context) error {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		return store.Errorf(store.EFORBIDDEN, "Only an administrator may see the build workers.")
	}
	return nil
}

// workers lists the workers heard from, live ones first.
func (s *Handler) workers() []queue.WorkerStatus {
	if s.deps.Workers == nil {
		return nil
	}
	return s.deps.Workers.List()
}

// handleWorkers: GET /v1/workers (administrators).
func (s *Handler) handleWorkers(c echo.Context) error {
	if err := requireWorkersAdmin(c); err != nil {
		return err
	}
	list := s.workers()
	out := make([]workerJSON, len(list))
	for i, w := range list {
		labels := w.Labels
		if labels == nil {
			labels = []string{}
		}
		out[i] = workerJSON{ID: w.ID, Host: w.Host, Version: w.Version, Labels: labels, Running: w.Running,
			Capacity: w.Capacity, Draining: w.Draining, StartedAt: w.StartedAt, LastSeen: w.LastSeen, Gone: w.Gone}
	}
	return c.JSON(http.StatusOK, map[string][]workerJSON{"workers": out})
}
