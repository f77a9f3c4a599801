package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

func (s *Handler) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz pings every dependency and answers 503 when one fails.
func (s *Handler) handleReadyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	for _, ch := range s.deps.Checks {
		if err := ch.Ping(ctx); err != nil {
			checks[ch.Name] = "unavailable: " + err.Error()
			status = http.StatusServiceUnavailable
			continue
		}
		checks[ch.Name] = "ok"
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	return c.JSON(status, map[string]any{"status": state, "checks": checks})
}
