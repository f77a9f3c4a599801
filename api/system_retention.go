package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// handleRunRetention: POST /v1/system/retention (administrators) runs
// retention now and answers what it did.
func (s *Handler) handleRunRetention(c echo.Context) error {
	if err := requireSystemAdmin(c); err != nil {
		return err
	}
	// The run finishes even if the client goes away: a half run is only
	// finished by the next one.
	run, err := s.deps.Deploys.RunRetention(context.WithoutCancel(c.Request().Context()))
	if err != nil && run.StartedAt.IsZero() {
		return err
	}
	// A run that failed part way says so in its error field; what it did
	// is still worth answering.
	return c.JSON(http.StatusOK, run)
}
