// Package serving answers requests for deployment hosts: it maps the Host
// header to a deployment and serves its files from the artifact store
// through a local disk cache.
package serving

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berth-dev/berth/apps"
	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/page"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// Config configures serving.
type Config struct {
	AppDomain string // deployments are its subdomains
	// ApexIsDashboard gives the bare apps domain to the dashboard: the
	// laptop default, apps under localhost and the dashboard on localhost.
	// Otherwise the bare apps domain is a deployment host matching nothing.
	ApexIsDashboard  bool
	CacheDir         string // local copies of artifact files, by content hash
	MemoryCacheBytes int64  // hot file bytes kept in memory (0: DefaultMemoryCacheBytes)
	DiskCacheBytes   int64  // size cap of CacheDir (0: DefaultDiskCacheBytes)
	// WriteTimeout is the least time a client has to take a file answer,
	// more for large files (fastpath.WriteTimeout); 0: DefaultWriteTimeout.
	WriteTimeout time.Duration
	MaxConns     int // connections the front door holds at once; 0: no cap
}

// DefaultWriteTimeout is the floor of the time a client has to take a file.
const DefaultWriteTimeout = 60 * time.Second

// Handler serves deployment hosts.
type Handler struct {
	cfg   Config
	db    *store.DB
	store artifacts.Bucket
	log   *slog.Logger
	files *fileCache
	hosts *hostCache
	// domains are the projects' custom domains.
	domains *domainTable
	apps    *apps.Manager // nil: server-rendered deployments cannot be served
	domain  string        // the apps domain
}

var previewLabel = regexp.MustCompile(`^[0-9a-f]{8}-preview$`)

// New returns a handler. servers may be nil when no Docker engine is there
// to run server-rendered deployments.
func New(cfg Config, db *store.DB, st artifacts.Bucket, apps *apps.Manager, log *slog.Logger) (*Handler, error) {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	files, err := newFileCache(cfg.CacheDir, st, cfg.MemoryCacheBytes, cfg.DiskCacheBytes)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, db: db, store: st, log: log, files: files, hosts: newHostCache(hostTTL), apps: apps,
		domains: newDomainTable(db, log),
		domain:  strings.ToLower(cfg.AppDomain)}, nil
}

// StripPort returns host without a port, lowercased.
func StripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Match reports whether host (as in a Host header) is a deployment host:
// the apps domain or a name under it, or a project's custom domain
// (verified or not: an unverified one answers a 404 page, never the
// dashboard). Every other host (such as 127.0.0.1, or the dashboard's own)
// belongs to the API and dashboard, and so does the bare apps domain with
// ApexIsDashboard (localhost on a laptop).
func (h *Handler) Match(host string) bool {
	_, _, ok := h.route(host)
	return ok
}

// route returns the host cache's key for host (a label under the apps
// domain, or a custom domain's project) and, for a custom domain, the
// domain; false when host is not a deployment host.
func (h *Handler) route(host string) (string, *store.Domain, bool) {
	if label, ok := h.label(host); ok {
		return label, nil, true
	}
	if d := h.domains.get(StripPort(host)); d != nil {
		return domainKey(d), d, true
	}
	return "", nil, false
}

// label is the part of host before the apps domain; "" for the bare apps
// domain, which serves nothing.
func (h *Handler) label(host string) (string, bool) {
	host = StripPort(host)
	if host == h.domain {
		return "", !h.cfg.ApexIsDashboard
	}
	label, ok := strings.CutSuffix(host, "."+h.domain)
	return label, ok && label != ""
}

// ServeHTTP resolves the host to a deployment and serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, dom, _ := h.route(r.Host)
	if dom != nil && h.serveDomain(w, r, dom) {
		return
	}
	d, err := h.hosts.resolve(r.Context(), key, h.resolve)
	if err != nil {
		if store.ErrorCode(err) != store.ENOTFOUND {
			h.log.Error("resolve host", slog.String("host", r.Host), slog.Any("error", err))
			page.Write(w, r, http.StatusInternalServerError, "Something went wrong", "berth could not look this address up. Try again in a moment.")
			return
		}
		page.Write(w, r, http.StatusNotFound, "Nothing deployed here", "No deployment answers at "+StripPort(r.Host)+".")
		return
	}
	if d.ExpiredAt != nil {
		page.Write(w, r, http.StatusGone, "This deployment was removed by retention",
			"It is older than what this server keeps, so its files were deleted. Newer deployments of the project are still served.")
		return
	}
	if d.Retired {
		page.Write(w, r, http.StatusGone, "This preview was closed", "Its pull request was closed, so it is no longer served.")
		return
	}
	switch d.State {
	case model.StateReady:
	case model.StateError:
		page.Write(w, r, http.StatusNotFound, "This deployment failed", "Its build did not succeed, so there is nothing to serve. See the build log for why.")
		return
	case model.StateCancelled:
		page.Write(w, r, http.StatusNotFound, "This deployment was cancelled", "It was stopped before it finished building.")
		return
	default:
		w.Header().Set("Refresh", "5")
		page.Write(w, r, http.StatusServiceUnavailable, "Building…", "This deployment is "+d.State+". The page reloads by itself when it is ready.")
		return
	}
	if model.IsServer(d.OutputType) {
		h.serveApp(w, r, d)
		return
	}
	h.serveStatic(w, r, d)
}

// resolve maps a host label to a deployment: "<8 hex>-preview" is one
// deployment; "=<project id>" (a custom domain) and any other label (a
// project slug) mean the project's production deployment.
func (h *Handler) resolve(ctx context.Context, label string) (*store.Deployment, error) {
	if projectID, ok := strings.CutPrefix(label, "="); ok {
		return h.db.ProductionDeploymentOf(ctx, projectID)
	}
	if label == "" || strings.Contains(label, ".") {
		return nil, store.Errorf(store.ENOTFOUND, "not found")
	}
	if previewLabel.MatchString(label) {
		return h.db.DeploymentByPreviewHost(ctx, label)
	}
	p, err := h.db.ProjectBySlug(ctx, label)
	if err != nil {
		return nil, err
	}
	if p.ProductionDeploymentID == "" {
		return nil, store.Errorf(store.ENOTFOUND, "no production deployment")
	}
	return h.db.DeploymentByID(ctx, p.ProductionDeploymentID)
}

// Forget drops cached data of deleted deployments: their manifests. Their
// files stay in the disk cache, which is content-addressed and so may share
// them with live deployments; never asked for again, they are the first
// to go when the cache passes its size cap.
func (h *Handler) Forget(deploymentIDs []string) {
	for _, id := range deploymentIDs {
		h.files.forgetManifest(id)
	}
}

// ForgetFiles removes the cached files of deleted deployments (their
// manifests are read from the artifact store, so call it before their
// artifacts are deleted) that no deployment served now uses; it returns the
// bytes freed. Call Forget first.
func (h *Handler) ForgetFiles(ctx context.Context, deploymentIDs []string) int64 {
	var manifests []*artifacts.Manifest
	for _, id := range deploymentIDs {
		m, err := artifacts.GetManifest(ctx, h.store, model.ArtifactPrefix(id))
		if err != nil {
			continue // never uploaded, or already gone: nothing cached of it
		}
		manifests = append(manifests, m)
	}
	return h.files.forgetFiles(manifests)
}
