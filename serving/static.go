package serving

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/internal/page"
	"github.com/berth-dev/berth/model"
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
// 404.html, then berth's 404 page. Dotfiles (see hidden) are never served.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, d *store.Deployment) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		page.Write(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Static deployments answer GET and HEAD only.")
		return
	}
	m, err := h.files.site(r.Context(), d.ID, d.ArtifactKey)
	if err != nil {
		h.manifestError(w, r, d, err)
		return
	}
	urlPath := r.URL.Path
	if !strings.HasPrefix(urlPath, "/") {
		urlPath = "/" + urlPath
	}
	clean := path.Clean(urlPath)
	rel := strings.TrimPrefix(clean, "/")
	switch {
	case hidden(rel):
		// Dotfiles are answered as if they were not there.
	case rel == "" || strings.HasSuffix(urlPath, "/"):
		if name := path.Join(rel, "index.html"); has(m, name) {
			h.serveFile(w, r, d, m, name, http.StatusOK)
			return
		}
	default:
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
	page.Write(w, r, http.StatusNotFound, "Page not found", "This deployment has no file at "+clean+".")
}

// serveApp serves a server-rendered deployment: its static assets
// (_next/static/*, public/*) straight from the artifact, everything else
// through its Node server.
func (h *Handler) serveApp(w http.ResponseWriter, r *http.Request, d *store.Deployment) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		m, err := h.files.site(r.Context(), d.ID, d.ArtifactKey)
		if err != nil {
			h.manifestError(w, r, d, err)
			return
		}
		rel := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if rel != "" && has(m, rel) && !hidden(rel) && !strings.HasSuffix(r.URL.Path, "/") {
			h.serveFile(w, r, d, m, rel, http.StatusOK)
			return
		}
	}
	if h.apps == nil {
		page.Write(w, r, http.StatusServiceUnavailable, "Server-rendered apps are unavailable", "This berth has no container engine to run the app's server.")
		return
	}
	h.apps.ServeHTTP(w, r, d)
}

// manifestError answers when a deployment's manifest could not be loaded,
// or was refused (it names files outside the deployment, say): nothing of
// the deployment is served.
func (h *Handler) manifestError(w http.ResponseWriter, r *http.Request, d *store.Deployment, err error) {
	h.log.Error("load manifest", slog.String("deployment", d.ID), slog.Any("error", err))
	if errors.Is(err, artifacts.ErrInvalidManifest) {
		page.Write(w, r, http.StatusBadGateway, "Deployment unavailable",
			"Its artifact's manifest is invalid, so berth serves none of its files. Deploy it again.")
		return
	}
	page.Write(w, r, http.StatusBadGateway, "Deployment unavailable", "Its files could not be read from the artifact store.")
}

func has(s *site, name string) bool {
	_, ok := s.m.Files[name]
	return ok
}

// serveFile answers with one file of the deployment, compressed when the
// client accepts it and a smaller variant exists. Plain GETs (the hot path)
// are answered from prepared header values and, for small files, bytes in
// memory; conditional and range requests go through http.ServeContent.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, d *store.Deployment, s *site, name string, status int) {
	h.serveFileOnce(w, r, d, s, name, status, true)
}

// serveFileOnce is serveFile; when retry is set and the cached file was
// pruned from the disk cache between lookup and open, it fetches it again
// once.
func (h *Handler) serveFileOnce(w http.ResponseWriter, r *http.Request, d *store.Deployment, s *site, name string, status int, retry bool) {
	entry := s.m.Files[name]
	f, err := h.files.hot(r.Context(), d.ArtifactKey+model.FilesDir+name, name, entry)
	if err != nil {
		h.log.Error("open artifact file", slog.String("deployment", d.ID), slog.String("file", name), slog.Any("error", err))
		page.Write(w, r, http.StatusBadGateway, "Deployment unavailable", "A file could not be read from the artifact store.")
		return
	}
	meta := s.meta(name)
	hdr := w.Header()
	hdr["Content-Type"] = meta.contentType
	hdr["X-Content-Type-Options"] = h.files.hdr.nosniff
	if status == http.StatusOK {
		hdr["Cache-Control"] = meta.cacheOK
	} else {
		hdr["Cache-Control"] = h.files.hdr.revalidate
	}
	if f.vary {
		hdr["Vary"] = h.files.hdr.vary
	}
	rh := r.Header
	ranged := rh["Range"] != nil
	enc := encIdentity
	if !ranged {
		// A range applies to one representation; identity is the one
		// every client can splice.
		enc = negotiate(rh.Get("Accept-Encoding"), &f.have)
	}
	v := f.v[enc]
	hdr["Etag"] = v.etag
	if v.encHdr != nil {
		hdr["Content-Encoding"] = v.encHdr
	}
	if status == http.StatusOK && (ranged || rh["If-None-Match"] != nil || rh["If-Modified-Since"] != nil ||
		rh["If-Match"] != nil || rh["If-Unmodified-Since"] != nil) {
		body, err := v.open()
		if err != nil {
			h.openError(w, r, d, s, name, status, entry.SHA256, retry, err)
			return
		}
		defer body.Close()
		http.ServeContent(w, r, name, time.Time{}, &progressReader{ReadSeekCloser: body, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout})
		return
	}
	// A client that stops reading is cut off after the write timeout, not
	// held forever. net/http clears the deadline once the answer is done,
	// so the next request on the connection (an SSE stream, a proxied app
	// answer) has none.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	hdr["Accept-Ranges"] = h.files.hdr.bytes
	hdr["Content-Length"] = v.length
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	if v.data != nil {
		w.WriteHeader(status)
		w.Write(v.data)
		return
	}
	file, err := os.Open(v.path)
	if err != nil {
		h.openError(w, r, d, s, name, status, entry.SHA256, retry, err)
		return
	}
	defer file.Close()
	w.WriteHeader(status)
	// sendfile from the disk cache, a chunk per write deadline: a slow
	// client that keeps reading is not cut off, one that stops is.
	for n := v.size; n > 0; n -= fastpath.WriteChunk {
		rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		if _, err := io.CopyN(w, file, min(n, fastpath.WriteChunk)); err != nil {
			return
		}
	}
}

// progressReader extends the write deadline each time http.ServeContent
// reads the next chunk, which it does once the previous one was written.
type progressReader struct {
	io.ReadSeekCloser
	rc      *http.ResponseController
	timeout time.Duration
	left    int64 // bytes until the next extension
}

func (p *progressReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		p.rc.SetWriteDeadline(time.Now().Add(p.timeout))
		p.left = fastpath.WriteChunk
	}
	b = b[:min(int64(len(b)), p.left)]
	n, err := p.ReadSeekCloser.Read(b)
	p.left -= int64(n)
	return n, err
}

// open returns the variant's bytes for http.ServeContent.
func (v *variant) open() (io.ReadSeekCloser, error) {
	if v.data != nil {
		return nopCloser{bytes.NewReader(v.data)}, nil
	}
	return os.Open(v.path)
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// openError handles a cached file that could not be opened: one pruned
// from the disk cache a moment ago is fetched again (once), anything else
// is an error answer.
func (h *Handler) openError(w http.ResponseWriter, r *http.Request, d *store.Deployment, s *site, name string, status int, sha string, retry bool, err error) {
	h.files.hotFiles.remove(sha)
	if retry && errors.Is(err, fs.ErrNotExist) {
		h.serveFileOnce(w, r, d, s, name, status, false)
		return
	}
	h.fileError(w, r, d, name, err)
}

// fileError answers when a cached file could not be read (the disk cache
// was cleaned under berth's feet, for one).
func (h *Handler) fileError(w http.ResponseWriter, r *http.Request, d *store.Deployment, name string, err error) {
	h.log.Error("read cached file", slog.String("deployment", d.ID), slog.String("file", name), slog.Any("error", err))
	for _, k := range []string{"Etag", "Content-Encoding", "Vary", "Cache-Control"} {
		w.Header().Del(k)
	}
	page.Write(w, r, http.StatusBadGateway, "Deployment unavailable", "A file could not be read from berth's cache.")
}

// Folders whose every file is named by its content (or by the build), so
// the tool itself serves them as immutable: Next.js's _next/static and
// SvelteKit's _app/immutable.
var immutableDirs = []string{"_next/static/", "_app/immutable/"}

// Folders where build tools put the files they name with a content hash:
// Vite's assets/, Astro's _astro/, Nuxt's _nuxt/ (beside unhashed build
// metadata such as _nuxt/builds/latest.json), Create React App's
// static/{js,css,media}/. A file there is immutable only when its name
// carries a hash.
var hashedDirs = []string{"assets/", "_astro/", "_nuxt/", "static/js/", "static/css/", "static/media/"}

// isHashed reports whether a file can be cached for a year: it lies where
// a build tool writes content-hashed files and its name carries the hash.
// HTML never: a page's address stays while its content changes. A file
// elsewhere, such as photo-20240101.jpg at the root of a hand-written site,
// is revalidated, as a wrong guess there would pin a stale file in every
// visitor's browser for a year.
func isHashed(name string) bool {
	if ext := strings.ToLower(path.Ext(name)); ext == ".html" || ext == ".htm" {
		return false
	}
	for _, dir := range immutableDirs {
		if strings.HasPrefix(name, dir) {
			return true
		}
	}
	for _, dir := range hashedDirs {
		if strings.HasPrefix(name, dir) {
			return nameHashed(path.Base(name)) || dir == "_nuxt/" && bareHash(path.Base(name))
		}
	}
	return false
}

// bareHash reports whether a file name is a hash alone, as Nuxt names its
// chunks (_nuxt/B7UzWBCh.js): 8 base64url characters that are neither a
// word nor a number.
func bareHash(base string) bool {
	stem := strings.TrimSuffix(base, path.Ext(base))
	return len(stem) == 8 && nameHashed("-"+stem)
}

// nameHashed reports whether a file name ends in a build tool's content
// hash: Rollup's (Vite, Astro, Nuxt) "-" or "." and 8 base64url
// characters, or webpack's "." and hex (Create React App's
// "main.1a2b3c4d.chunk.js" too). Dates and counters, all digits, are not
// hashes.
func nameHashed(base string) bool {
	stem := strings.TrimSuffix(base, path.Ext(base))
	stem = strings.TrimSuffix(stem, ".chunk")
	if m := longHash.FindString(stem); m != "" {
		return strings.ContainsAny(m, "abcdef")
	}
	if !shortHash.MatchString(stem) {
		return false
	}
	hash := stem[len(stem)-8:]
	if strings.Trim(hash, "0123456789") == "" {
		return false
	}
	return strings.ContainsAny(hash, "0123456789") || strings.ToLower(hash) != hash
}

// hidden reports whether a file name has a segment starting with "." (such
// as .env.staging, .npmrc or .git/config) outside .well-known/: such files
// are not served. A hand-written site deploys its whole folder, and its
// dotfiles are far more often secrets left there than pages.
func hidden(name string) bool {
	if rest, ok := strings.CutPrefix(name, ".well-known/"); ok {
		name = rest
	} else if name == ".well-known" {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}
