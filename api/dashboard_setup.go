package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// The setup pages: GET /setup/<token> offers to become the administrator,
// POST makes it (a strong API key shown once, and a session), or starts
// a GitHub sign-in that makes that account the administrator.

const (
	// setupCookie holds the setup form's CSRF token (double submit).
	setupCookie = "berth_setup"
	// setupGrantCookie carries a GitHub sign-in started from the setup
	// page to its callback.
	setupGrantCookie = "berth_setup_grant"
)

type setupPage struct {
	Token  string
	GitHub bool
}

// checkSetupLink counts a wrong token as a failed credential check (so
// guessing links is rate limited like guessing keys) and answers 404 for
// one, 410 for the link once used or expired.
func (d *dashboard) checkSetupLink(c echo.Context) (ok bool, err error) {
	ticket, err := d.s.beginCredentialCheck(c)
	if err != nil {
		return false, d.setupError(c, http.StatusTooManyRequests, "Too many tries", store.ErrorMessage(err))
	}
	switch d.s.setup.state(c.Param("token"), time.Now()) {
	case setupOpen:
		ticket.done(false)
		return true, nil
	case setupGone:
		ticket.done(false)
		return false, d.setupError(c, http.StatusGone, "Setup link used up",
			"This setup link was used or has expired. If berth still has no administrator, restart it for a new link in its log.")
	}
	ticket.done(true)
	return false, d.setupError(c, http.StatusNotFound, "Not found", "This setup link is not valid.")
}

func (d *dashboard) setupError(c echo.Context, status int, title, msg string) error {
	return d.render(c, status, "error", pageView{Title: title, Page: msg})
}

func (d *dashboard) handleSetupPage(c echo.Context) error {
	if ok, err := d.checkSetupLink(c); !ok {
		return err
	}
	csrf := store.NewID(16)
	d.s.setCookie(c, setupCookie, csrf, 3600, time.Time{}, http.SameSiteStrictMode)
	return d.render(c, http.StatusOK, "setup", pageView{Title: "Set up berth", CSRF: csrf,
		Page: setupPage{Token: c.Param("token"), GitHub: d.githubEnabled()}})
}

// handleSetup makes the administrator: with a new API key shown once (the
// browser is signed in too), or through GitHub.
func (d *dashboard) handleSetup(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, dashboardBodyLimit)
	if err := d.s.sameOrigin(r); err != nil {
		return d.fail(c, err)
	}
	if ok, err := d.checkSetupLink(c); !ok {
		return err
	}
	want := d.s.readCookie(c, setupCookie)
	if want == "" || !equalTokens(c.FormValue(csrfField), want) {
		return d.setupError(c, http.StatusForbidden, "Not allowed", "This form has expired or did not come from berth; open the setup link again.")
	}
	token := c.Param("token")
	if c.FormValue("with") == "github" && d.githubEnabled() {
		grant := d.s.setup.newGrant(token, time.Now())
		if grant == "" {
			return d.setupError(c, http.StatusGone, "Setup link used up", "This setup link was used or has expired.")
		}
		d.s.setCookie(c, setupGrantCookie, grant, int(setupGrantTTL.Seconds()), time.Time{}, http.SameSiteLaxMode)
		return seeOther(c, "/auth/github")
	}
	if !d.s.setup.consume(token, time.Now()) {
		return d.setupError(c, http.StatusGone, "Setup link used up", "This setup link was used or has expired.")
	}
	ctx := r.Context()
	admin, err := d.s.deps.DB.EnsureAdmin(ctx)
	if err != nil {
		d.s.setup.release()
		return d.fail(c, err)
	}
	key, secret, err := d.s.deps.DB.CreateAPIKey(ctx, admin.ID, "Made at setup")
	if err != nil {
		d.s.setup.release()
		return d.fail(c, err)
	}
	csrf, err := d.s.StartSession(c, admin)
	if err != nil {
		return d.fail(c, err)
	}
	d.s.setCookie(c, setupCookie, "", -1, time.Time{}, http.SameSiteStrictMode)
	d.s.deps.Log.Info("berth has its administrator; the setup link is used up", slog.String("api_key", key.Prefix))
	return d.render(c, http.StatusOK, "setup_done", pageView{Title: "berth is set up", User: admin, CSRF: csrf,
		Page: createdKey{Name: key.Name, Token: secret}})
}
