package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// The users page is for administrators: it lists every account, with
// forms to disable, enable and delete them (the API's code paths).

func (d *dashboard) handleUsers(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return d.fail(c, err)
	}
	users, err := d.s.deps.DB.Users(c.Request().Context())
	if err != nil {
		return d.fail(c, err)
	}
	return d.render(c, http.StatusOK, "users", pageView{Title: "Users", Nav: "users", Page: users})
}

func (d *dashboard) handleDisableUser(c echo.Context) error {
	if err := d.s.disableUser(c, c.Param("id")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/users?done=disabled")
}

func (d *dashboard) handleEnableUser(c echo.Context) error {
	if err := d.s.enableUser(c, c.Param("id")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/users?done=enabled")
}

func (d *dashboard) handleDeleteUser(c echo.Context) error {
	if err := d.s.deleteUser(c, c.Param("id")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/users?done=user-deleted")
}
