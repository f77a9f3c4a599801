package serving

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/store"
)

// ServeFast answers a plain GET or HEAD of a file that a ready deployment
// has, with the same header values serveFile sends; everything else
// (redirects, 404s, server-rendered routes, failures) is left to ServeHTTP.
func (h *Handler) ServeFast(r *fastpath.Request, resp *fastpath.Response) bool {
	label, ok := h.label(r.Host)
	if !ok {
		return false
	}
	ctx := context.Background()
	d, err := h.hosts.resolve(ctx, label, h.resolve)
	if err != nil || d.Retired || d.State != store.StateReady {
		return false
	}
	s, err := h.files.site(ctx, d.ID, d.ArtifactKey)
	if err != nil {
		return false
	}
	rel := r.Path[1:]
	name := rel
	if rel == "" || strings.HasSuffix(rel, "/") {
		if d.OutputType == "nextjs-standalone" {
			return false // the app's server answers directories
		}
		name = rel + "index.html"
	}
	entry, ok := s.m.Files[name]
	if !ok {
		return false
	}
	f, err := h.files.hot(ctx, d.ArtifactKey+artifacts.FilesDir+name, name, entry)
	if err != nil {
		return false
	}
	meta := s.meta(name)
	v := f.v[negotiate(r.AcceptEncoding, &f.have)]

	if r.IfNoneMatch != "" && etagListMatches(r.IfNoneMatch, v.etag[0]) {
		// What http.ServeContent leaves of serveFile's headers in a 304.
		b := append(resp.Header[:0], "Cache-Control: "...)
		b = append(b, meta.cacheOK[0]...)
		b = append(b, "\r\nEtag: "...)
		b = append(b, v.etag[0]...)
		if f.vary {
			b = append(b, "\r\nVary: Accept-Encoding"...)
		}
		b = append(b, "\r\nX-Content-Type-Options: nosniff\r\n"...)
		resp.Header, resp.NotModified = b, true
		return true
	}
	b := append(resp.Header[:0], "Accept-Ranges: bytes\r\nCache-Control: "...)
	b = append(b, meta.cacheOK[0]...)
	if v.encHdr != nil {
		b = append(b, "\r\nContent-Encoding: "...)
		b = append(b, v.encHdr[0]...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = append(b, v.length[0]...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, meta.contentType[0]...)
	b = append(b, "\r\nEtag: "...)
	b = append(b, v.etag[0]...)
	if f.vary {
		b = append(b, "\r\nVary: Accept-Encoding"...)
	}
	b = append(b, "\r\nX-Content-Type-Options: nosniff\r\n"...)
	resp.Header = b
	resp.Body, resp.File, resp.Size = v.data, v.path, v.size
	return true
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
