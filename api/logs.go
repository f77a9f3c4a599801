package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

const logPage = 1000

// handleLogs streams a deployment's build log as server-sent events: every
// stored line after Last-Event-ID, then live lines, then `done` with the
// final state. With Accept: text/plain it returns the whole log as text.
func (s *Handler) handleLogs(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.deps.DB.Deployment(ctx, currentUser(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if acceptsPlainText(c.Request()) {
		return s.plainLog(c, d.ID)
	}
	var last int64
	if v := c.Request().Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	} else if v := c.QueryParam("after"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	}

	sub, unsubscribe := s.deps.Deploys.Subscribe(d.ID)
	defer unsubscribe()

	w := c.Response()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(l store.LogLine) {
		data, _ := json.Marshal(l)
		fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", l.Line, data)
		last = l.Line
	}
	// catchUp reads the state first and the lines second: lines and states
	// are stored together, so a terminal state read first means every line
	// is already there for the second read.
	catchUp := func() (done bool, err error) {
		cur, err := s.deps.DB.DeploymentByID(ctx, d.ID)
		if err != nil {
			return false, err
		}
		for {
			lines, err := s.deps.DB.LogLines(ctx, d.ID, last, logPage)
			if err != nil {
				return false, err
			}
			for _, l := range lines {
				send(l)
			}
			if len(lines) < logPage {
				break
			}
		}
		if model.Terminal(cur.State) {
			sendDone(w, cur.State, cur.Error)
			return true, nil
		}
		w.Flush()
		return false, nil
	}
	if done, err := catchUp(); done || err != nil {
		return err
	}

	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			w.Flush()
		case u, ok := <-sub.C:
			if !ok {
				return nil // shutting down
			}
			if sub.Lagged.Swap(false) {
				if done, err := catchUp(); done || err != nil {
					return err
				}
			}
			for _, l := range u.Lines {
				if l.Line > last {
					send(l)
				}
			}
			if model.Terminal(u.State) {
				// Lines stored in the same batch came before this update.
				if done, err := catchUp(); done || err != nil {
					return err
				}
				sendDone(w, u.State, u.Error)
				return nil
			}
			w.Flush()
		}
	}
}

func sendDone(w *echo.Response, state, errMsg string) {
	data, _ := json.Marshal(map[string]string{"state": state, "error": errMsg})
	fmt.Fprintf(w, "event: done\ndata: %s\n\n", data)
	w.Flush()
}

func (s *Handler) plainLog(c echo.Context, id string) error {
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	var last int64
	for {
		lines, err := s.deps.DB.LogLines(c.Request().Context(), id, last, logPage)
		if err != nil {
			return nil // the status is sent; the truncated body is all we can do
		}
		for _, l := range lines {
			fmt.Fprintln(w, l.Text)
			last = l.Line
		}
		if len(lines) < logPage {
			return nil
		}
	}
}
