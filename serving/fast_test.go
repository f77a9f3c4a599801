package serving

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/model"
)

// counted counts the requests the fast path answered.
type counted struct {
	h *Handler
	n atomic.Int64
}

func (c *counted) ServeFast(r *fastpath.Request, resp *fastpath.Response) bool {
	ok := c.h.ServeFast(r, resp)
	if ok {
		c.n.Add(1)
	}
	return ok
}

// TestServeFastMatchesServeHTTP: through a real listener, every file the
// fast path answers gets the same status, headers (apart from Date) and
// bytes as ServeHTTP gives; what it must not answer reaches ServeHTTP.
func TestServeFastMatchesServeHTTP(t *testing.T) {
	sh := newStaticHarness(t)
	files := map[string][]byte{
		"index.html":             []byte("<!doctype html><title>fast</title>"),
		"docs/index.html":        []byte("<!doctype html><title>docs</title>"),
		"assets/app-4f3a9C1d.js": text(20 << 10),
		"big.js":                 text(300 << 10),
		"logo.png":               append([]byte("\x89PNG\r\n\x1a\n"), text(4<<10)...),
		"about.html":             []byte("<!doctype html><title>about</title>"),
		"404.html":               []byte("<!doctype html><title>lost</title>"),
	}
	d := sh.deploy(t, sh.project(t, "fast"), files, model.StateReady)
	failed := sh.deploy(t, sh.project(t, "broken"), files, model.StateBuilding)
	sh.transition(t, failed.ID, model.StateError)

	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fast := &counted{h: sh.h}
	cfg := fastpath.Config{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
	l := fastpath.Listen(inner, fast, cfg)
	srv := &http.Server{Handler: sh.h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); l.Shutdown(context.Background()) })

	// dial opens a connection and returns a function sending requests on it.
	dial := func() func(method, host, path string, header ...string) (*http.Response, []byte) {
		conn, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		br := bufio.NewReader(conn)
		return func(method, host, path string, header ...string) (*http.Response, []byte) {
			t.Helper()
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
			for i := 0; i+1 < len(header); i += 2 {
				fmt.Fprintf(conn, "%s: %s\r\n", header[i], header[i+1])
			}
			fmt.Fprint(conn, "\r\n")
			res, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			return res, body
		}
	}
	send := dial() // one keep-alive connection for every fast answer

	host := d.PreviewHost + ".localhost:8080"
	for _, tt := range []struct {
		method, path string
		header       []string
	}{
		{"GET", "/", nil},
		{"GET", "/docs/", nil},
		{"GET", "/assets/app-4f3a9C1d.js", nil},
		{"GET", "/assets/app-4f3a9C1d.js", []string{"Accept-Encoding", "gzip"}},
		{"GET", "/assets/app-4f3a9C1d.js", []string{"Accept-Encoding", "gzip, deflate, br, zstd"}},
		{"HEAD", "/assets/app-4f3a9C1d.js", []string{"Accept-Encoding", "gzip"}},
		{"GET", "/big.js", nil}, // from the disk cache with sendfile
		{"GET", "/big.js", []string{"Accept-Encoding", "zstd"}},
		{"GET", "/logo.png?v=2", []string{"Accept-Encoding", "gzip"}},
		// Revalidation: 304 for a listed ETag of the variant sent, 200
		// otherwise, as http.ServeContent answers.
		{"GET", "/big.js", []string{"If-None-Match", `"` + hash32(files["big.js"]) + `"`}},
		{"HEAD", "/big.js", []string{"If-None-Match", `W/"` + hash32(files["big.js"]) + `"`}},
		{"GET", "/", []string{"If-None-Match", `"other", "` + hash32(files["index.html"]) + `"`}},
		{"GET", "/assets/app-4f3a9C1d.js", []string{"Accept-Encoding", "gzip", "If-None-Match", `"` + hash32(files["assets/app-4f3a9C1d.js"]) + `-gzip"`}},
		{"GET", "/assets/app-4f3a9C1d.js", []string{"Accept-Encoding", "gzip", "If-None-Match", `"` + hash32(files["assets/app-4f3a9C1d.js"]) + `"`}},
		{"GET", "/about.html", []string{"If-None-Match", "*"}},
		{"GET", "/about.html", []string{"If-None-Match", `"nope"`}},
		{"GET", "/about.html", []string{"If-None-Match", `bad, "` + hash32(files["about.html"]) + `"`}},
		{"GET", "/about.html", []string{"If-None-Match", `"a b", "` + hash32(files["about.html"]) + `"`}},
	} {
		before := fast.n.Load()
		got, gotBody := send(tt.method, host, tt.path, tt.header...)
		if fast.n.Load() != before+1 {
			t.Fatalf("%s %s %v: not answered on the fast path", tt.method, tt.path, tt.header)
		}
		want := sh.get(sh.h, tt.method, host, tt.path, tt.header...)
		wantBody := readBody(t, want)
		if got.StatusCode != want.StatusCode || string(gotBody) != string(wantBody) {
			t.Fatalf("%s %s %v: fast %d, %d bytes; ServeHTTP %d, %d bytes", tt.method, tt.path, tt.header,
				got.StatusCode, len(gotBody), want.StatusCode, len(wantBody))
		}
		if tt.method == "HEAD" && got.ContentLength != want.ContentLength {
			t.Fatalf("HEAD %s: Content-Length %d, want %d", tt.path, got.ContentLength, want.ContentLength)
		}
		delete(got.Header, "Date")
		delete(want.Header, "Date")
		for k := range want.Header {
			if !slices.Equal(got.Header[k], want.Header[k]) {
				t.Errorf("%s %s %v: header %s = %q, want %q", tt.method, tt.path, tt.header, k, got.Header[k], want.Header[k])
			}
		}
		if want.Header["Content-Length"] == nil && got.Header["Content-Length"] != nil {
			// http.ServeContent leaves the length of an encoded body to
			// net/http (chunked when large); the fast path states it.
			if cl := got.Header.Get("Content-Length"); cl != strconv.Itoa(len(gotBody)) || tt.method != "GET" {
				t.Errorf("%s %s %v: Content-Length %s for %d bytes", tt.method, tt.path, tt.header, cl, len(gotBody))
			}
			delete(got.Header, "Content-Length")
		}
		for k := range got.Header {
			if want.Header[k] == nil {
				t.Errorf("%s %s %v: extra header %s: %q", tt.method, tt.path, tt.header, k, got.Header[k])
			}
		}
	}

	// Everything else is ServeHTTP's, each on a new connection (a
	// connection stays with net/http once it went there).
	before := fast.n.Load()
	for _, tt := range []struct {
		host, path string
		header     []string
		status     int
	}{
		{host, "/missing", nil, http.StatusNotFound},      // the site's 404.html
		{host, "/docs", nil, http.StatusMovedPermanently}, // to /docs/
		{host, "/about", nil, http.StatusOK},              // about.html
		{host, "/big.js", []string{"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"}, http.StatusOK},
		{host, "/big.js", []string{"Range", "bytes=0-9"}, http.StatusPartialContent},
		{failed.PreviewHost + ".localhost", "/", nil, http.StatusNotFound},
		{"nothing-here.localhost", "/", nil, http.StatusNotFound},
	} {
		res, _ := dial()("GET", tt.host, tt.path, tt.header...)
		if res.StatusCode != tt.status {
			t.Errorf("GET %s%s %v: %d, want %d", tt.host, tt.path, tt.header, res.StatusCode, tt.status)
		}
	}
	if n := fast.n.Load(); n != before {
		t.Fatalf("the fast path answered %d of the requests it must leave to ServeHTTP", n-before)
	}
}
