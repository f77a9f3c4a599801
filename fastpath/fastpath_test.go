package fastpath

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// files answers /a.txt from memory and /big.bin from a file, for Host
// site.test; it declines everything else. Like a file server it resolves
// the path it is given ("/x/../a.txt" is /a.txt), so a path the fast path
// should have handed to net/http is answered here, and the test sees it.
type files struct {
	bigPath string
	bigSize int64
	served  atomic.Int64
}

func (f *files) ServeFast(r *Request, resp *Response) bool {
	if r.Host != "site.test" {
		return false
	}
	switch path.Clean(r.Path) {
	case "/a.txt":
		if r.IfNoneMatch == `"v1"` {
			resp.Header = append(resp.Header[:0], "Etag: \"v1\"\r\n"...)
			resp.NotModified = true
			break
		}
		resp.Header = append(resp.Header[:0], "Content-Length: 5\r\nContent-Type: text/plain\r\nX-Enc: "...)
		resp.Header = append(resp.Header, r.AcceptEncoding...)
		resp.Header = append(resp.Header, "\r\n"...)
		resp.Body = []byte("hello")
	case "/big.bin":
		resp.Header = append(resp.Header[:0], fmt.Sprintf("Content-Length: %d\r\nContent-Type: application/octet-stream\r\n", f.bigSize)...)
		resp.File, resp.Size = f.bigPath, f.bigSize
	default:
		return false
	}
	f.served.Add(1)
	return true
}

// harness runs net/http behind the fast path. The net/http handler marks
// its answers with X-Via and echoes the method, path and body.
type harness struct {
	addr  string
	fast  *files
	l     *Listener
	srv   *http.Server
	slow  atomic.Int64
	serve chan error
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	p := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{addr: inner.Addr().String(), fast: &files{bigPath: p, bigSize: int64(len(big))}, serve: make(chan error, 1)}
	h.l = Listen(inner, h.fast, cfg)
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.slow.Add(1)
		if r.URL.Path == "/hijack" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo " + line)
			brw.Flush()
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Via", "net/http")
		fmt.Fprintf(w, "%s %s %q", r.Method, r.URL.RequestURI(), body)
	}), ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout}
	go func() { h.serve <- h.srv.Serve(h.l) }()
	t.Cleanup(func() { h.srv.Close(); h.l.Shutdown(context.Background()) })
	return h
}

func (h *harness) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func read(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res, string(body)
}

// TestFastRequests: plain GETs and HEADs, pipelined on one connection, are
// answered by the handler with a Date header and nothing reaches net/http.
func TestFastRequests(t *testing.T) {
	h := newHarness(t, Config{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second})
	c, br := h.dial(t)
	// Three requests in one write: pipelining.
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nAccept-Encoding: gzip, zstd\r\nUser-Agent: t\r\n\r\n"+
		"HEAD /a.txt?v=1 HTTP/1.1\r\nhost: site.test\r\nConnection: keep-alive\r\n\r\n"+
		"GET /big.bin HTTP/1.1\r\nHost: site.test\r\n\r\n")
	res, body := read(t, br, "GET")
	if res.StatusCode != 200 || body != "hello" || res.Header.Get("X-Enc") != "gzip, zstd" || res.Header.Get("X-Via") != "" {
		t.Fatalf("GET: %d %q %v", res.StatusCode, body, res.Header)
	}
	if d, err := http.ParseTime(res.Header.Get("Date")); err != nil || time.Since(d) > time.Minute {
		t.Fatalf("Date %q: %v", res.Header.Get("Date"), err)
	}
	res, body = read(t, br, "HEAD")
	if res.StatusCode != 200 || body != "" || res.ContentLength != 5 {
		t.Fatalf("HEAD: %d %q %d", res.StatusCode, body, res.ContentLength)
	}
	res, body = read(t, br, "GET")
	want, _ := os.ReadFile(h.fast.bigPath)
	if res.StatusCode != 200 || body != string(want) {
		t.Fatalf("GET big: %d, %d bytes, want %d", res.StatusCode, len(body), len(want))
	}
	if n := h.fast.served.Load(); n != 3 {
		t.Fatalf("fast path answered %d requests, want 3", n)
	}
	defer func() {
		if n := h.slow.Load(); n != 0 {
			t.Fatalf("net/http answered %d requests, want 0", n)
		}
	}()
	if n := h.slow.Load(); n != 0 {
		t.Fatalf("net/http answered %d requests, want 0", n)
	}
	// A 304 carries no body, for GET as for HEAD; the next answer on the
	// connection is whole.
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nIf-None-Match: \"v1\"\r\n\r\n"+
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n")
	res, body = read(t, br, "GET")
	if res.StatusCode != http.StatusNotModified || body != "" || res.Header.Get("Etag") != `"v1"` {
		t.Fatalf("conditional GET: %d %q %v", res.StatusCode, body, res.Header)
	}
	if res, body = read(t, br, "GET"); res.StatusCode != 200 || body != "hello" {
		t.Fatalf("after the 304: %d %q", res.StatusCode, body)
	}
	// Connection: close is honoured: the answer says so and the
	// connection ends.
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
	res, _ = read(t, br, "GET")
	if !res.Close {
		t.Fatal("no Connection: close in the answer")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after Connection: close: %v", err)
	}
}

// TestHandOff: every request the fast path does not take exactly reaches
// net/http intact, body included, on the same connection.
func TestHandOff(t *testing.T) {
	h := newHarness(t, Config{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second})
	long := strings.Repeat("x", 5000)
	for _, tt := range []struct {
		name, req, want string
	}{
		{"post with body", "POST /a.txt HTTP/1.1\r\nHost: site.test\r\nContent-Length: 3\r\n\r\nabc", `POST /a.txt "abc"`},
		{"chunked", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", `GET /a.txt "abc"`},
		{"content-length", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nContent-Length: 2\r\n\r\nhi", `GET /a.txt "hi"`},
		{"conditional", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n", `GET /a.txt ""`},
		{"two if-none-match", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nIf-None-Match: \"v1\"\r\nIf-None-Match: \"v2\"\r\n\r\n", `GET /a.txt ""`},
		{"range", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nRange: bytes=0-1\r\n\r\n", `GET /a.txt ""`},
		{"http/1.0", "GET /a.txt HTTP/1.0\r\nHost: site.test\r\n\r\n", `GET /a.txt ""`},
		{"escaped path", "GET /a%2etxt HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET /a%2etxt ""`},
		{"dot segment", "GET /x/../a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET /x/../a.txt ""`},
		{"dot", "GET /./a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET /./a.txt ""`},
		{"double slash", "GET //a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET //a.txt ""`},
		{"absolute form", "GET http://site.test/a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET /a.txt ""`},
		{"other host", "GET /a.txt HTTP/1.1\r\nHost: api.test\r\n\r\n", `GET /a.txt ""`},
		{"not a file", "GET /nope HTTP/1.1\r\nHost: site.test\r\n\r\n", `GET /nope ""`},
		{"upgrade", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", `GET /a.txt ""`},
		{"long head", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nCookie: " + long + "\r\n\r\n", `GET /a.txt ""`},
		{"folded header", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nX-A: 1\r\n continued\r\n\r\n", `GET /a.txt ""`},
		{"repeated accept-encoding", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nAccept-Encoding: gzip\r\nAccept-Encoding: br\r\n\r\n", `GET /a.txt ""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.fast.served.Load()
			c, br := h.dial(t)
			fmt.Fprint(c, tt.req)
			res, body := read(t, br, "GET")
			if res.Header.Get("X-Via") != "net/http" || body != tt.want {
				t.Fatalf("got %d %q (X-Via %q), want net/http's %q", res.StatusCode, body, res.Header.Get("X-Via"), tt.want)
			}
			if h.fast.served.Load() != before {
				t.Fatal("the fast path answered too")
			}
		})
	}
	// Heads net/http rejects are rejected, not answered by the fast path.
	for _, tt := range []struct{ name, req string }{
		{"two hosts", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\nHost: site.test\r\n\r\n"},
		{"no host", "GET /a.txt HTTP/1.1\r\nUser-Agent: t\r\n\r\n"},
		{"space before colon", "GET /a.txt HTTP/1.1\r\nHost : site.test\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.fast.served.Load()
			c, br := h.dial(t)
			fmt.Fprint(c, tt.req)
			res, _ := read(t, br, "GET")
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d, want net/http's 400", res.StatusCode)
			}
			if h.fast.served.Load() != before {
				t.Fatal("the fast path answered")
			}
		})
	}
}

// TestSwitchToNetHTTP: a connection answered on the fast path goes to
// net/http at its first other request and stays there; a hijacked
// connection reads the bytes the fast path had buffered.
func TestSwitchToNetHTTP(t *testing.T) {
	h := newHarness(t, Config{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second})
	c, br := h.dial(t)
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n"+
		"POST /form HTTP/1.1\r\nHost: site.test\r\nContent-Length: 4\r\n\r\nq=42"+
		"GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n")
	if res, body := read(t, br, "GET"); res.Header.Get("X-Via") != "" || body != "hello" {
		t.Fatalf("first: %q %v", body, res.Header)
	}
	if res, body := read(t, br, "POST"); res.Header.Get("X-Via") != "net/http" || body != `POST /form "q=42"` {
		t.Fatalf("second: %q %v", body, res.Header)
	}
	if res, body := read(t, br, "GET"); res.Header.Get("X-Via") != "net/http" || body != `GET /a.txt ""` {
		t.Fatalf("third: %q %v", body, res.Header)
	}

	c2, br2 := h.dial(t)
	fmt.Fprint(c2, "GET /hijack HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping\n")
	res, err := http.ReadResponse(br2, &http.Request{Method: "GET"})
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	if line, err := br2.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Fatalf("after upgrade: %q %v", line, err)
	}
}

// TestTimeoutsAndShutdown: an idle connection is closed after IdleTimeout;
// Shutdown ends idle connections and net/http's Serve returns.
func TestTimeoutsAndShutdown(t *testing.T) {
	h := newHarness(t, Config{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	c, br := h.dial(t)
	fmt.Fprint(c, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n")
	read(t, br, "GET")
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %s, want about 300ms", d)
	}
	// A head that never ends is cut off by ReadHeaderTimeout.
	c2, br2 := h.dial(t)
	fmt.Fprint(c2, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n")
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Fatalf("slow head: %v, want EOF", err)
	}

	h2 := newHarness(t, Config{ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute})
	c3, br3 := h2.dial(t)
	fmt.Fprint(c3, "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\r\n")
	read(t, br3, "GET")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h2.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h2.l.Shutdown(ctx); err != nil {
		t.Fatalf("fast path shutdown: %v", err)
	}
	if err := <-h2.serve; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := br3.ReadByte(); err != io.EOF {
		t.Fatalf("idle fast connection after Shutdown: %v, want EOF", err)
	}
	if _, err := net.DialTimeout("tcp", h2.addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func BenchmarkParse(b *testing.B) {
	head := []byte("GET /assets/index-BxYz12Ab.js HTTP/1.1\r\nHost: 3f9a12cd-preview.localhost:8080\r\nUser-Agent: Mozilla/5.0\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en\r\nConnection: keep-alive\r\n\r\n")
	c := &conn{}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.parse(head); !ok {
			b.Fatal("not parsed")
		}
	}
}
