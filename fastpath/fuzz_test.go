package fastpath

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzParseHead checks that what the fast path accepts is a strict subset
// of what net/http accepts, read the same way: for any bytes, when the
// fast path would answer a head, net/http's ReadRequest reads the same
// method, path, host, headers and connection handling, ends the request at
// the same byte, sees no body, and its server would not refuse the head.
// A head the fast path hands off must only not crash it.
//
//	go test -run XXX -fuzz FuzzParseHead -fuzztime 20s ./fastpath/
func FuzzParseHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: 3f9a12cd-preview.localhost:8080\r\n\r\n",
		"GET /assets/index-BxYz12Ab.js HTTP/1.1\r\nHost: shop.localhost\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n" +
			"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en\r\nConnection: keep-alive\r\n\r\n",
		"HEAD /a.txt?v=1 HTTP/1.1\r\nhost: site.test\r\nIf-None-Match: W/\"abc\", \"def\"\r\nConnection: close\r\n\r\n",
		"GET /docs/ HTTP/1.1\r\nHost: site.test\r\nCookie: a=b; c=d\r\n\r\nGET / HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET /a.txt HTTP/1.1\nHost: site.test\n\n",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nHost: other.test\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost : site.test\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nX-A: 1\r\n folded\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nContent-Length: 3\r\n\r\nabc",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /x/../a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET http://site.test/a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET /a.txt HTTP/1.0\r\nHost: site.test\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nX: a\x00b\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\nConnection: close, upgrade\r\nUpgrade: h2c\r\n\r\n",
		"GET /a.txt?q=\"<x>\" HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\nHost: site.test\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: site.test\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _ := scanHead(data, 0)
		if n == 0 || n > maxHead {
			return // net/http reads it
		}
		c := &conn{}
		closeAfter, fast := c.parse(data[:n])
		if !fast {
			return
		}
		got := c.req
		rd := bytes.NewReader(data)
		br := bufio.NewReader(rd)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("fast path accepts %q, net/http refuses it: %v", data[:n], err)
		}
		if end := len(data) - rd.Len() - br.Buffered(); end != n {
			t.Fatalf("fast path ends the head at %d, net/http at %d: %q", n, end, data)
		}
		wantMethod := "GET"
		if got.Head {
			wantMethod = "HEAD"
		}
		switch {
		case req.Method != wantMethod:
			t.Fatalf("method: fast %s, net/http %s", wantMethod, req.Method)
		case req.URL.Path != got.Path || req.URL.RawPath != "":
			t.Fatalf("path: fast %q, net/http %q (raw %q)", got.Path, req.URL.Path, req.URL.RawPath)
		case req.Host != got.Host || len(req.Header["Host"]) > 1:
			t.Fatalf("host: fast %q, net/http %q", got.Host, req.Host)
		case req.Header.Get("Accept-Encoding") != got.AcceptEncoding || len(req.Header["Accept-Encoding"]) > 1:
			t.Fatalf("Accept-Encoding: fast %q, net/http %q", got.AcceptEncoding, req.Header["Accept-Encoding"])
		case req.Header.Get("If-None-Match") != got.IfNoneMatch || len(req.Header["If-None-Match"]) > 1:
			t.Fatalf("If-None-Match: fast %q, net/http %q", got.IfNoneMatch, req.Header["If-None-Match"])
		case req.Close != closeAfter:
			t.Fatalf("Connection: close: fast %v, net/http %v", closeAfter, req.Close)
		case req.ProtoMajor != 1 || req.ProtoMinor != 1:
			t.Fatalf("protocol %s", req.Proto)
		case req.ContentLength != 0 || len(req.TransferEncoding) > 0:
			t.Fatalf("net/http sees a body: length %d, %v", req.ContentLength, req.TransferEncoding)
		}
		for _, h := range []string{"Range", "If-Range", "If-Match", "If-Modified-Since", "If-Unmodified-Since", "Upgrade", "Expect", "Te", "Trailer"} {
			if _, ok := req.Header[h]; ok {
				t.Fatalf("fast path accepts a head with %s", h)
			}
		}
		// What net/http's server checks after ReadRequest.
		if !httpguts.ValidHostHeader(req.Host) {
			t.Fatalf("net/http's server refuses host %q", req.Host)
		}
		for name, values := range req.Header {
			if !httpguts.ValidHeaderFieldName(name) {
				t.Fatalf("net/http's server refuses header name %q", name)
			}
			for _, v := range values {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("net/http's server refuses %s value %q", name, v)
				}
			}
		}
	})
}
