// Package api is berth's HTTP face for people and programs: the REST API,
// authentication, SSE build logs, GitHub sign-in and webhooks, and the
// dashboard. Handlers are thin adapters over the deploys lifecycle and the
// store. Deployment hosts never reach it: the front door (serving) sends
// them elsewhere.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/domains"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/store"
)

// Config configures the server.
type Config struct {
	AppDomain  string // deployments are served from its subdomains
	PublicURL  string // scheme, host and port of the dashboard and API
	AdminToken string
	Version    string
	GitHub     GitHubConfig
	// GitHubEnabled shows "Sign in with GitHub" (an OAuth app is configured).
	GitHubEnabled bool
	// AuthLimits bound failed credential checks; zero values take defaults.
	AuthLimits AuthLimits
	// AllowLocalGit lets every user, not only the administrator, build from
	// paths, file:// and http:// URLs: sources on or near the berth host.
	AllowLocalGit bool
	// SetupLinkTTL is how long the first-run setup link works (default an hour).
	SetupLinkTTL time.Duration
}

// MinAdminTokenLength is the shortest admin token berth accepts: it is a
// password to everything, so it must be long and random.
const MinAdminTokenLength = 32

// Check is one readiness probe.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Deps are the server's collaborators.
type Deps struct {
	DB      *store.DB
	Deploys *deploys.Lifecycle
	Domains *domains.Manager // projects' custom domains
	Secrets *secretbox.Box   // seals GitHub tokens at sign-in
	Checks  []Check
	Log     *slog.Logger
	// Disk measures the server's disk for administrators (nil: not known).
	Disk func(context.Context) (DiskReport, error)
	// Workers lists the build workers for administrators (nil: none).
	Workers Workers
}

// Handler is the API and dashboard.
type Handler struct {
	cfg    Config
	deps   Deps
	echo   *echo.Echo
	github *notifier
	admin  *store.User
	public *url.URL
	guard  *authGuard
	orgs   *orgCache
	// origins refuses cross-site changes made with a session cookie.
	origins *http.CrossOriginProtection
	// setup is the one-time link of a berth without an administrator.
	setup    setupLink
	setupURL string
	// keySignIn lets the sign-in form take API keys: with no admin token
	// they are how the administrator made at setup signs in again.
	keySignIn bool
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) (*Handler, error) {
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || pub.Scheme == "" || pub.Host == "" {
		pub = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminTokenLength {
		return nil, fmt.Errorf("the admin token is %d characters long; it must have at least %d", len(cfg.AdminToken), MinAdminTokenLength)
	}
	origins, err := newOriginCheck(pub.Scheme + "://" + pub.Host)
	if err != nil {
		return nil, fmt.Errorf("public URL %s: %w", cfg.PublicURL, err)
	}
	s := &Handler{cfg: cfg, deps: deps, public: pub, origins: origins,
		guard: newAuthGuard(cfg.AuthLimits, time.Now), orgs: newOrgCache(cfg.GitHub.OrgCheckTTL)}
	s.github = newNotifier(s)
	deps.Deploys.Observe(s.github.observe)
	s.echo = s.routes()
	return s, nil
}

// ServeHTTP serves the API and dashboard.
func (s *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Start ensures the admin user and starts the GitHub notifier.
func (s *Handler) Start(ctx context.Context) error {
	if s.cfg.AdminToken != "" {
		admin, err := s.deps.DB.EnsureAdmin(ctx)
		if err != nil {
			return err
		}
		s.admin = admin
	}
	if err := s.offerSetup(ctx); err != nil {
		return err
	}
	s.github.start()
	return nil
}

// Close stops the GitHub notifier.
func (s *Handler) Close() { s.github.stop() }

// previewURL is the public URL of a host label under the apps domain.
func (s *Handler) previewURL(label string) string {
	host := label + "." + s.cfg.AppDomain
	if port := s.public.Port(); port != "" {
		host += ":" + port
	}
	return s.public.Scheme + "://" + host + "/"
}

func (s *Handler) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	s.dashboardRoutes(e)

	limit := middleware.BodyLimit("1M") // API bodies are small; webhooks have their own limit
	e.POST("/v1/session", s.handleTokenSignIn, limit)
	e.GET("/auth/github", s.handleGitHubLogin)
	e.GET("/auth/github/callback", s.handleGitHubCallback)
	e.POST("/webhooks/github", s.handleGitHubWebhook)
	v1 := e.Group("/v1", limit, s.authenticate)
	v1.GET("/session", s.handleGetSession)
	v1.DELETE("/session", s.handleSignOut)
	v1.POST("/projects", s.handleCreateProject)
	v1.GET("/projects", s.handleListProjects)
	v1.GET("/projects/:id", s.handleGetProject)
	v1.PATCH("/projects/:id", s.handleUpdateProject)
	v1.DELETE("/projects/:id", s.handleDeleteProject)
	v1.GET("/projects/:id/env", s.handleListEnv)
	v1.PUT("/projects/:id/env", s.handleSetEnv)
	v1.DELETE("/projects/:id/env/:key", s.handleDeleteEnv)
	v1.GET("/projects/:id/domains", s.handleListDomains)
	v1.POST("/projects/:id/domains", s.handleAddDomain)
	v1.POST("/projects/:id/domains/:name/verify", s.handleVerifyDomain)
	v1.PATCH("/projects/:id/domains/:name", s.handlePatchDomain)
	v1.DELETE("/projects/:id/domains/:name", s.handleRemoveDomain)
	v1.POST("/projects/:id/deployments", s.handleCreateDeployment)
	v1.GET("/projects/:id/deployments", s.handleListDeployments)
	v1.GET("/deployments/:id", s.handleGetDeployment)
	v1.GET("/deployments/:id/logs", s.handleLogs)
	v1.POST("/deployments/:id/cancel", s.handleCancel)
	v1.POST("/deployments/:id/redeploy", s.handleRedeploy)
	v1.POST("/deployments/:id/promote", s.handlePromote)
	v1.POST("/projects/:id/rollback", s.handleRollback)
	v1.GET("/projects/:id/production", s.handleProductionHistory)
	v1.GET("/projects/:id/webhook-deliveries", s.handleListDeliveries)
	v1.POST("/projects/:id/webhook-secret", s.handleRotateWebhookSecret)
	v1.GET("/github/repos", s.handleListRepos)
	v1.GET("/api-keys", s.handleListAPIKeys)
	v1.POST("/api-keys", s.handleCreateAPIKey)
	v1.DELETE("/api-keys/:id", s.handleDeleteAPIKey)
	v1.GET("/users", s.handleListUsers)
	v1.POST("/users/:id/disable", s.handleDisableUser)
	v1.POST("/users/:id/enable", s.handleEnableUser)
	v1.DELETE("/users/:id", s.handleDeleteUser)
	v1.GET("/system/disk", s.handleDisk)
	v1.POST("/system/retention", s.handleRunRetention)
	v1.GET("/workers", s.handleWorkers)
	return e
}

func acceptsPlainText(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "text/plain") && !strings.Contains(a, "text/event-stream")
}
