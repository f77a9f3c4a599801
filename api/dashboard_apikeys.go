package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// apiKeysPage lists the user's keys; Created is set once, right after a
// key is made, and is the only time its token is shown.
type apiKeysPage struct {
	Keys    []*store.APIKey
	Created *createdKey
	Name    string // the name typed, kept after an error
}

type createdKey struct {
	Name, Token string
}

func (d *dashboard) handleAPIKeys(c echo.Context) error {
	return d.renderAPIKeys(c, http.StatusOK, apiKeysPage{}, "")
}

func (d *dashboard) renderAPIKeys(c echo.Context, status int, page apiKeysPage, errMsg string) error {
	keys, err := d.s.deps.DB.APIKeys(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return d.fail(c, err)
	}
	page.Keys = keys
	return d.render(c, status, "apikeys", pageView{Title: "API keys", Nav: "api-keys", Error: errMsg, Page: page})
}

// handleCreateAPIKey answers with the page itself, not a redirect: the
// token is shown in this one response and never stored in clear.
func (d *dashboard) handleCreateAPIKey(c echo.Context) error {
	name := c.FormValue("name")
	k, token, err := d.s.deps.DB.CreateAPIKey(c.Request().Context(), currentUser(c).ID, name)
	if err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderAPIKeys(c, status, apiKeysPage{Name: name}, msg)
		}
		return d.fail(c, err)
	}
	return d.renderAPIKeys(c, http.StatusOK, apiKeysPage{Created: &createdKey{Name: k.Name, Token: token}}, "")
}

func (d *dashboard) handleRevokeAPIKey(c echo.Context) error {
	if err := d.s.deps.DB.DeleteAPIKey(c.Request().Context(), currentUser(c).ID, c.Param("id")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/api-keys?done=revoked")
}
