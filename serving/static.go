package serving

import (
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/store"
)

var (
	// A build tool's content hash at the end of a file stem: Vite/Rollup's
	// "-" + 8 base64url characters, or webpack-style long hex.
	shortHash = regexp.MustCompile(`[.-][A-Za-z0-9_-]{8}$`)
	longHash  = regexp.MustCompile(`[.-][a-f0-9]{12,}$`)
)

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "public, max-age=0, must-revalidate"
)

// serveStatic serves a ready static deployment: the file the path names,
// index.html for directories, NAME.html for clean URLs, then the site's own
// 404.html, then berth's 404 page.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, d *store.Deployment) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writePage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Static deployments answer GET and HEAD only.")
		return
	}
	m, err := h.files.manifest(r.Context(), d.ID, d.ArtifactKey)
	if err != nil {
		h.log.Error("load manifest", slog.String("deployment", d.ID), slog.Any("err", err))
		writePage(w, r, http.StatusBadGateway, "Deployment unavailable", "Its files could not be read from the artifact store.")
		return
	}
	urlPath := r.URL.Path
	if !strings.HasPrefix(urlPath, "/") {
		urlPath = "/" + urlPath
	}
	clean := path.Clean(urlPath)
	rel := strings.TrimPrefix(clean, "/")
	if rel == "" || strings.HasSuffix(urlPath, "/") {
		if name := path.Join(rel, "index.html"); has(m, name) {
			h.serveFile(w, r, d, m, name, http.StatusOK)
			return
		}
	} else {
		if has(m, rel) {
			h.serveFile(w, r, d, m, rel, http.StatusOK)
			return
		}
		if has(m, rel+"/index.html") {
			target := clean + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		if has(m, rel+".html") {
			h.serveFile(w, r, d, m, rel+".html", http.StatusOK)
			return
		}
	}
	if has(m, "404.html") {
		h.serveFile(w, r, d, m, "404.html", http.StatusNotFound)
		return
	}
	writePage(w, r, http.StatusNotFound, "Page not found", "This deployment has no file at "+clean+".")
}

// serveApp serves a server-rendered deployment: its static assets
// (_next/static/*, public/*) straight from the artifact, everything else
// through its Node server.
func (h *Handler) serveApp(w http.ResponseWriter, r *http.Request, d *store.Deployment) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		m, err := h.files.manifest(r.Context(), d.ID, d.ArtifactKey)
		if err != nil {
			h.log.Error("load manifest", slog.String("deployment", d.ID), slog.Any("err", err))
			writePage(w, r, http.StatusBadGateway, "Deployment unavailable", "Its files could not be read from the artifact store.")
			return
		}
		rel := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if rel != "" && has(m, rel) && !strings.HasSuffix(r.URL.Path, "/") {
			h.serveFile(w, r, d, m, rel, http.StatusOK)
			return
		}
	}
	if h.servers == nil {
		writePage(w, r, http.StatusServiceUnavailable, "Server-rendered apps are unavailable", "This berth has no container engine to run the app's server.")
		return
	}
	h.servers.ServeHTTP(w, r, d)
}

func has(m *artifacts.Manifest, name string) bool {
	_, ok := m.Files[name]
	return ok
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, d *store.Deployment, m *artifacts.Manifest, name string, status int) {
	entry := m.Files[name]
	f, err := h.files.open(r.Context(), d.ArtifactKey+artifacts.FilesDir+name, entry)
	if err != nil {
		h.log.Error("open artifact file", slog.String("deployment", d.ID), slog.String("file", name), slog.Any("err", err))
		writePage(w, r, http.StatusBadGateway, "Deployment unavailable", "A file could not be read from the artifact store.")
		return
	}
	defer f.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", artifacts.ContentType(name))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", `"`+entry.SHA256[:32]+`"`)
	if status == http.StatusOK && isHashed(name) {
		hdr.Set("Cache-Control", cacheImmutable)
	} else {
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	if status == http.StatusOK {
		// Conditional GET, Range and HEAD come from ServeContent.
		http.ServeContent(w, r, name, time.Time{}, f)
		return
	}
	hdr.Set("Content-Length", strconv.FormatInt(entry.Size, 10))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.Copy(w, f)
	}
}

// isHashed reports whether a file name carries a content hash, so it can be
// cached forever.
func isHashed(name string) bool {
	if strings.HasPrefix(name, "_next/static/") {
		return true
	}
	base := path.Base(name)
	stem := strings.TrimSuffix(base, path.Ext(base))
	if longHash.MatchString(stem) {
		return true
	}
	if !shortHash.MatchString(stem) {
		return false
	}
	hash := stem[len(stem)-8:]
	return strings.ContainsAny(hash, "0123456789") || strings.ToLower(hash) != hash
}
