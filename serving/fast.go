package serving

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/model"
)

// ServeFast answers a plain GET or HEAD of a file that a ready deployment
// has, with the same header values serveFile sends; everything else
// (redirects, 404s, server-rendered routes, failures) is left to ServeHTTP.
func (h *Handler) ServeFast(r *fastpath.Request, resp *fastpath.Response) bool {
	key, dom, ok := h.route(r.Host)
	if !ok || dom != nil && (!dom.Verified() || dom.RedirectTo != "") {
		return false
	}
	ctx := context.Background()
	d, err := h.hosts.resolve(ctx, key, h.resolve)
	if err != nil || d.Retired || d.ExpiredAt != nil || d.State != model.StateReady {
		return false
	}
	s, err := h.files.site(ctx, d.ID, d.ArtifactKey)
	if err != nil {
		return false
	}
	rel := r.Path[1:]
	name := rel
	if rel == "" || strings.HasSuffix(rel, "/") {
		if model.IsServer(d.OutputType) {
			return false // the app's server answers directories
		}
		name = rel + "index.html"
	}
	entry, ok := s.m.Files[name]
	if !ok || hidden(name) {
		return false
	}
	f, err := h.files.hot(ctx, d.ArtifactKey+model.FilesDir+name, name, entry)
	if err != nil {
		return false
	}
	meta := s.meta(name)
	v := f.v[negotiate(r.AcceptEncoding, &f.have)]

	// A 304 keeps what http.ServeContent leaves of serveFile's headers:
	// no Accept-Ranges, Content-Encoding, Content-Length or Content-Type.
	notModified := r.IfNoneMatch != "" && etagListMatches(r.IfNoneMatch, v.etag[0])
	b := resp.Header[:0]
	if !notModified {
		b = appendHeader(b, "Accept-Ranges", "bytes")
	}
	b = appendHeader(b, "Cache-Control", meta.cacheOK[0])
	if !notModified {
		if v.encHdr != nil {
			b = appendHeader(b, "Content-Encoding", v.encHdr[0])
		}
		b = appendHeader(b, "Content-Length", v.length[0])
		b = appendHeader(b, "Content-Type", meta.contentType[0])
	}
	b = appendHeader(b, "Etag", v.etag[0])
	if f.vary {
		b = appendHeader(b, "Vary", "Accept-Encoding")
	}
	resp.Header = appendHeader(b, "X-Content-Type-Options", "nosniff")
	if notModified {
		resp.NotModified = true
		return true
	}
	resp.Body, resp.File, resp.Size = v.data, v.path, v.size
	return true
}

func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// etagListMatches reports whether an If-None-Match list names etag, by the
// weak comparison GET uses, reading the list as net/http does: "*"
// matches, and a malformed element ends the list without a match.
func etagListMatches(list, etag string) bool {
	for {
		list = strings.TrimLeft(list, " \t")
		switch {
		case list == "":
			return false
		case list[0] == ',':
			list = list[1:]
			continue
		case list[0] == '*':
			return true
		}
		list = strings.TrimPrefix(list, "W/")
		if len(list) < 2 || list[0] != '"' {
			return false
		}
		end := 1
		for ; end < len(list) && list[end] != '"'; end++ {
			if c := list[end]; !(c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80) {
				return false
			}
		}
		if end == len(list) {
			return false
		}
		if list[:end+1] == etag {
			return true
		}
		list = list[end+1:]
	}
}
