package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/embedui"
	"github.com/berth-dev/berth/store"
)

// The dashboard is server-rendered: every page is a Go template from
// embedui, every change a POST form carrying the session's CSRF token, and
// its handlers call the store with the signed-in user's id, so the owner
// checks are the same as the API's. A little JavaScript streams build logs
// (the API's SSE endpoint) and refreshes deployment states (the API's JSON).

// dashboardBodyLimit bounds a dashboard form (an env var value is at most 64 KiB).
const dashboardBodyLimit = 256 << 10

// dashboard renders the web UI.
type dashboard struct {
	s      *Handler
	pages  map[string]*template.Template
	static fs.FS
	hashes map[string]string // asset name -> content hash, for cache busting
}

// dashboardRoutes registers the dashboard's pages and forms.
func (s *Handler) dashboardRoutes(e *echo.Echo) {
	d := newDashboard(s)
	auth := d.requireSession
	e.GET("/static/*", d.handleStatic)
	e.GET("/sign-in", d.handleSignInPage)
	e.POST("/sign-in", d.handleSignIn)
	e.POST("/sign-out", d.handleSignOut, auth)
	e.GET("/setup/:token", d.handleSetupPage)
	e.POST("/setup/:token", d.handleSetup)

	e.GET("/", d.handleProjects, auth)
	e.GET("/projects/new", d.handleNewProject, auth)
	e.POST("/projects", d.handleCreateProject, auth)
	e.GET("/projects/:id", d.handleProject, auth)
	e.POST("/projects/:id/settings", d.handleProjectSettings, auth)
	e.POST("/projects/:id/delete", d.handleDeleteProject, auth)
	e.POST("/projects/:id/deploy", d.handleDeploy, auth)
	e.POST("/projects/:id/env", d.handleSetEnv, auth)
	e.POST("/projects/:id/env/:key/delete", d.handleDeleteEnv, auth)
	e.POST("/projects/:id/webhook-secret", d.handleRotateWebhookSecret, auth)
	e.POST("/projects/:id/rollback", d.handleRollback, auth)
	e.POST("/projects/:id/domains", d.handleAddDomain, auth)
	e.POST("/projects/:id/domains/:name/verify", d.handleVerifyDomain, auth)
	e.POST("/projects/:id/domains/:name/redirect", d.handleDomainRedirect, auth)
	e.POST("/projects/:id/domains/:name/delete", d.handleRemoveDomain, auth)

	e.GET("/deployments/:id", d.handleDeployment, auth)
	e.GET("/deployments/:id/log.txt", d.handleLogText, auth)
	e.POST("/deployments/:id/redeploy", d.handleRedeploy, auth)
	e.POST("/deployments/:id/cancel", d.handleCancel, auth)
	e.POST("/deployments/:id/promote", d.handlePromote, auth)

	e.GET("/api-keys", d.handleAPIKeys, auth)
	e.POST("/api-keys", d.handleCreateAPIKey, auth)
	e.POST("/api-keys/:id/revoke", d.handleRevokeAPIKey, auth)

	e.GET("/users", d.handleUsers, auth)
	e.POST("/users/:id/disable", d.handleDisableUser, auth)
	e.POST("/users/:id/enable", d.handleEnableUser, auth)
	e.POST("/users/:id/delete", d.handleDeleteUser, auth)

	e.GET("/system", d.handleSystem, auth)
	e.POST("/system/retention", d.handleRunRetention, auth)

	e.GET("/workers", d.handleWorkers, auth)
}

// newDashboard parses the embedded templates. They are part of the binary,
// so a parse error is a bug that every test run catches: it panics.
func newDashboard(s *Handler) *dashboard {
	d := &dashboard{s: s, pages: map[string]*template.Template{}, static: embedui.Static(), hashes: map[string]string{}}
	err := fs.WalkDir(d.static, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fs.ReadFile(d.static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		d.hashes[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		panic("embedui: hash static assets: " + err.Error())
	}
	tfs := embedui.Templates()
	names, err := fs.Glob(tfs, "*.html")
	if err != nil {
		panic("embedui: list templates: " + err.Error())
	}
	// layout.html and the shared _*.html pieces are in every page.
	layout := template.Must(template.New("layout.html").Funcs(d.funcs()).ParseFS(tfs, "layout.html", "_*.html"))
	for _, name := range names {
		if name == "layout.html" || strings.HasPrefix(name, "_") {
			continue
		}
		page := template.Must(template.Must(layout.Clone()).ParseFS(tfs, name))
		d.pages[strings.TrimSuffix(name, ".html")] = page
	}
	return d
}

// githubEnabled reports whether a GitHub OAuth app is configured, so
// GitHub sign-in (GET /auth/github) and linked repositories are offered.
func (d *dashboard) githubEnabled() bool { return d.s.cfg.GitHub.ClientID != "" }

// pageView is what every page template receives.
type pageView struct {
	Title  string
	Nav    string // the current section: projects, api-keys, users, system or workers
	User   *store.User
	CSRF   string
	Notice string // a sentence confirming what just happened
	Error  string // a sentence saying what went wrong
	Page   any    // the page's own data
}

// dashboardHeaders: pages carry CSRF tokens, so they are never cached, and
// nothing but berth's own files may run, load or frame them.
func dashboardHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes page name with v and status. The page is rendered into a
// buffer first, so a template error becomes a clean 500, not half a page.
func (d *dashboard) render(c echo.Context, status int, name string, v pageView) error {
	t, ok := d.pages[name]
	if !ok {
		return errors.New("dashboard: no page " + name)
	}
	if v.User == nil {
		v.User = currentUser(c)
	}
	if sess := currentSession(c); sess != nil && v.CSRF == "" {
		v.CSRF = sess.CSRF
	}
	if v.Notice == "" {
		v.Notice = dashboardNotices[c.QueryParam("done")]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	dashboardHeaders(c.Response().Header())
	return c.HTMLBlob(status, buf.Bytes())
}

// fail shows err as a page: its sentence and the status the API would use.
// Internal errors are logged and shown as a generic sentence.
func (d *dashboard) fail(c echo.Context, err error) error {
	code := store.ErrorCode(err)
	status := statusOf[code]
	msg := store.ErrorMessage(err)
	if status == 0 || status >= 500 {
		status = http.StatusInternalServerError
		d.s.deps.Log.Error("dashboard request failed", slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path), slog.Any("error", err))
		msg = "Something went wrong on the server; try again, and check berth's log if it persists."
	}
	title := map[int]string{
		http.StatusNotFound:  "Not found",
		http.StatusForbidden: "Not allowed",
		http.StatusConflict:  "Not possible right now",
	}[status]
	if title == "" {
		title = "Something went wrong"
	}
	// The sentence is the page itself, not a banner above it.
	return d.render(c, status, "error", pageView{Title: title, Page: msg})
}

// formError returns the sentence and status of an error a form should show
// next to what was typed (invalid input, a conflict); ok is false for
// anything else.
func formError(err error) (msg string, status int, ok bool) {
	switch store.ErrorCode(err) {
	case store.EINVALID, store.ECONFLICT, store.ELIMIT:
		return formSentence(store.ErrorMessage(err)), statusOf[store.ErrorCode(err)], true
	}
	return "", 0, false
}

// apiFieldNames turns the API's field names in the store's sentences into
// the words the dashboard's forms use.
var apiFieldNames = strings.NewReplacer(
	"git_url", "the repository URL",
	"github_repo", "the GitHub repository",
	"root_dir", "the root directory",
	"output_dir", "the output directory",
	"worker_labels: ", "", // the sentence after it names the label
)

func formSentence(msg string) string {
	msg = apiFieldNames.Replace(msg)
	if r, size := utf8.DecodeRuneInString(msg); unicode.IsLower(r) {
		msg = string(unicode.ToUpper(r)) + msg[size:]
	}
	return msg
}

// dashboardNotices are the confirmations a redirect can ask for with ?done=.
var dashboardNotices = map[string]string{
	"created":         "Project created. Deploy it to get a preview URL.",
	"saved":           "Settings saved. They apply to the next deployment.",
	"deleted":         "Project deleted.",
	"env-saved":       "Variable saved. It applies to the next deployment.",
	"env-deleted":     "Variable deleted. The change applies to the next deployment.",
	"domain-added":    "Domain added. Create the DNS records shown, then verify it.",
	"domain-verified": "Domain verified: it serves this project's production deployment.",
	"domain-saved":    "Redirect saved.",
	"domain-removed":  "Domain removed.",
	"cancelled":       "Deployment cancelled.",
	"promoted":        "Promoted: the production URL now serves this deployment.",
	"rolled-back":     "Rolled back: the production URL now serves the deployment you chose.",
	"revoked":         "API key revoked.",
	"disabled":        "User disabled: their sessions ended and their API keys no longer work.",
	"enabled":         "User enabled.",
	"user-deleted":    "User deleted, with their projects.",
	"retention":       "Retention ran; the last run below says what it deleted.",
}

// seeOther answers a form with 303 See Other to path.
func seeOther(c echo.Context, path string) error {
	return c.Redirect(http.StatusSeeOther, path)
}

// requireSession lets signed-in browsers through. Others are sent to the
// sign-in page (with the page they wanted). A form must come from berth's
// own pages (sameOrigin) and carry the session's CSRF token, or it is
// refused with 403 before anything happens.
func (d *dashboard) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token := d.s.readCookie(c, sessionCookie)
		if token == "" {
			return d.toSignIn(c)
		}
		sess, u, err := d.s.deps.DB.SessionByToken(r.Context(), token)
		if store.ErrorCode(err) == store.EUNAUTHORIZED || store.ErrorCode(err) == store.ENOTFOUND {
			return d.toSignIn(c)
		}
		if err != nil {
			return d.fail(c, err)
		}
		if err := d.s.stillAllowed(r.Context(), u); err != nil {
			// The allow list no longer lets this GitHub account in: its
			// session ends here.
			if err := d.s.EndSession(c); err != nil {
				return d.fail(c, err)
			}
			return seeOther(c, "/sign-in?error=github-forbidden")
		}
		c.Set(userKey, u)
		c.Set(sessionKey, sess)
		if !safeMethod(r.Method) {
			if err := d.s.sameOrigin(r); err != nil {
				return d.fail(c, err)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, dashboardBodyLimit)
			if !validCSRF(c, sess) {
				return d.fail(c, store.Errorf(store.EFORBIDDEN,
					"This form has expired or did not come from berth; reload the page and try again."))
			}
		}
		return next(c)
	}
}

// toSignIn redirects to the sign-in page, which returns to this page
// afterwards when it was a page (not a form).
func (d *dashboard) toSignIn(c echo.Context) error {
	target := "/sign-in"
	if r := c.Request(); r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	return seeOther(c, target)
}

// handleStatic serves an embedded asset. A URL carrying the asset's current
// hash (as the templates write them) may be cached for good.
func (d *dashboard) handleStatic(c echo.Context) error {
	name := c.Param("*")
	hash, ok := d.hashes[name]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if c.QueryParam("v") == hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(c.Response(), c.Request(), d.static, name)
	return nil
}
