package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// The workers page is for administrators: the build workers that sent a
// heartbeat in the last hour, live ones first, gone ones marked.

// workerRow is one line of the workers page.
type workerRow struct {
	ID, Host, Version string
	Labels            string // comma-separated; "" for none
	Running, Capacity int
	LastSeen          time.Time
	Heartbeat         string // "3 s ago"
	State             string // live, draining or gone
}

func (d *dashboard) handleWorkers(c echo.Context) error {
	if err := requireWorkersAdmin(c); err != nil {
		return d.fail(c, err)
	}
	now := time.Now()
	var rows []workerRow
	for _, w := range d.s.workers() {
		r := workerRow{ID: w.ID, Host: w.Host, Version: w.Version, Labels: strings.Join(w.Labels, ", "),
			Running: w.Running, Capacity: w.Capacity, LastSeen: w.LastSeen, Heartbeat: heartbeatAgo(now.Sub(w.LastSeen)), State: "live"}
		switch {
		case w.Gone:
			r.State = "gone"
		case w.Draining:
			r.State = "draining"
		}
		rows = append(rows, r)
	}
	return d.render(c, http.StatusOK, "workers", pageView{Title: "Workers", Nav: "workers", Page: rows})
}

// heartbeatAgo reads like "3 s ago" or "4 min ago": heartbeats come every
// few seconds, so the seconds matter.
func heartbeatAgo(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h ago", int(d.Hours()))
}
