package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// handleProductionHistory lists which deployments served the project's
// production host, from when to when and who put them there, newest first.
func (s *Handler) handleProductionHistory(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	if _, err := s.deps.DB.Project(ctx, u.ID, c.Param("id")); err != nil {
		return err
	}
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	list, err := s.deps.DB.ProductionHistory(ctx, u.ID, c.Param("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}
