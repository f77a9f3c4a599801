// Package fastpath answers the plainest HTTP/1.1 requests straight from the
// connection and hands every other connection to net/http.
//
// A static preview file is most of what a deployment host serves, and for
// those requests net/http's general machinery costs more than the work
// itself. The fast path reads a request head, and when it is a GET or HEAD
// with nothing unusual about it (no body, no ranges, no upgrade, no
// condition but one If-None-Match, an origin-form path without escapes or
// dot segments), it asks the Handler for the answer and writes it in one
// system call (or a corked header and sendfile). Anything else, including anything it does not
// parse exactly, goes to net/http untouched: the connection, with the bytes
// read so far, is returned by Listener.Accept, and net/http keeps it until
// it closes. What the fast path accepts is a strict subset of what net/http
// accepts, so the two never disagree about where a request ends.
package fastpath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Request is a plain GET or HEAD.
type Request struct {
	Head           bool   // HEAD rather than GET
	Host           string // the Host header, as sent
	Path           string // starts with "/"; unreserved characters only, clean apart from a trailing "/"
	AcceptEncoding string
	IfNoneMatch    string // the one If-None-Match header, or ""
}

// Response is a 200 answer, or a 304 with NotModified.
type Response struct {
	NotModified bool // 304: the head only, whatever the method
	// Header holds the header lines, each ending in "\r\n", without the
	// status line, Date or Connection. Append to Header[:0]: its array is
	// reused.
	Header []byte
	// The body is Body, or when Body is nil, the first Size bytes of the
	// file at File.
	Body []byte
	File string
	Size int64
}

// Handler answers a plain request by filling in resp and returning true, or
// returns false to leave the request, and the rest of its connection, to
// net/http.
type Handler interface {
	ServeFast(req *Request, resp *Response) bool
}

// Config holds the connection timeouts, as in http.Server.
type Config struct {
	ReadHeaderTimeout time.Duration // to read a request head once it has begun
	IdleTimeout       time.Duration // to wait for the next request
	// WriteTimeout is the time a client has to take an answer, or, of a
	// large file, each WriteChunk bytes of it. A client that stops reading
	// loses its connection then, instead of holding it, its goroutine and
	// an open file forever; a slow one that keeps reading is not cut off.
	// 0: no limit.
	WriteTimeout time.Duration
}

// WriteChunk is how much of a large file a client must take within the
// write timeout, again and again.
const WriteChunk = 256 << 10

// maxHead is the largest request head the fast path reads; larger ones go
// to net/http, whose limit is higher.
const maxHead = 4096

// Listener accepts connections, serves plain requests on them, and returns
// from Accept the connections meant for net/http.
type Listener struct {
	inner   net.Listener
	h       Handler
	cfg     Config
	handoff chan net.Conn
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Listen serves plain requests arriving on inner with h. Pass the result to
// http.Server.Serve.
func Listen(inner net.Listener, h Handler, cfg Config) *Listener {
	l := &Listener{inner: inner, h: h, cfg: cfg, handoff: make(chan net.Conn), done: make(chan struct{}),
		conns: map[net.Conn]struct{}{}}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection for net/http.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handoff:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Addr is the address listened on.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops accepting and ends idle fast-path connections; a response
// being written is finished first. Connections already handed to net/http
// are net/http's to close.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.SetReadDeadline(time.Now()) // wakes a connection waiting for a request
		}
		l.mu.Unlock()
	})
	return err
}

// Shutdown closes the listener and waits until every fast-path connection
// has ended or ctx is done, then closes those left.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.Close()
	finished := make(chan struct{})
	go func() { l.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		<-finished
		return ctx.Err()
	}
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *Listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.closed() || errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		l.mu.Lock()
		if l.closed() {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serve(c)
	}
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxHead) }}

// conn is one connection on the fast path.
type conn struct {
	net.Conn
	l    *Listener
	br   *bufio.Reader
	req  Request
	resp Response
	out  []byte
	bufs [2][]byte
}

func (l *Listener) serve(nc net.Conn) {
	c := &conn{Conn: nc, l: l, br: readers.Get().(*bufio.Reader)}
	c.br.Reset(nc)
	handed := false
	defer func() {
		l.mu.Lock()
		delete(l.conns, nc)
		l.mu.Unlock()
		if !handed {
			nc.Close()
			c.br.Reset(nil)
			readers.Put(c.br)
		}
		l.wg.Done()
	}()
	first := true
	for {
		n, ok, err := c.readHead(first)
		first = false
		if err != nil || l.closed() {
			return
		}
		if ok {
			closeAfter, fast := c.parse(c.head(n))
			c.resp.Body, c.resp.File, c.resp.Size, c.resp.NotModified = nil, "", 0, false
			if fast && c.l.h.ServeFast(&c.req, &c.resp) {
				sent, err := c.write(closeAfter)
				if err != nil {
					return
				}
				if sent {
					c.br.Discard(n)
					if closeAfter {
						c.lingerClose()
						return
					}
					continue
				}
			}
		}
		// Not for the fast path: net/http reads this request, from the
		// bytes buffered here, and everything after it.
		nc.SetDeadline(time.Time{})
		hc := &handedConn{Conn: nc, br: c.br}
		select {
		case l.handoff <- hc:
			handed = true
		case <-l.done:
		}
		return
	}
}

// lingerClose half-closes the connection and reads what the client still
// sends for a moment, so that closing does not reset the connection before
// the client has read the answer.
func (c *conn) lingerClose() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c.br, 256<<10))
}

// readHead waits for a complete request head in the buffer and returns its
// length (through the blank line). ok is false when the head does not fit
// the buffer, or does not end in CRLF CRLF within it.
func (c *conn) readHead(first bool) (n int, ok bool, err error) {
	wait := c.l.cfg.IdleTimeout
	if first {
		wait = c.l.cfg.ReadHeaderTimeout
	}
	if c.br.Buffered() == 0 {
		if wait > 0 {
			c.SetReadDeadline(time.Now().Add(wait))
		}
		if c.l.closed() {
			return 0, false, net.ErrClosed
		}
		if _, err := c.br.Peek(1); err != nil {
			return 0, false, err
		}
	}
	if !first && c.l.cfg.ReadHeaderTimeout > 0 {
		c.SetReadDeadline(time.Now().Add(c.l.cfg.ReadHeaderTimeout))
	}
	from := 0
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		n, bare := scanHead(buf, from)
		if n > 0 {
			return n, true, nil
		}
		if bare || len(buf) >= maxHead {
			return 0, false, nil
		}
		from = len(buf)
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return 0, false, nil
			}
			return 0, false, err
		}
	}
}

// scanHead looks for the end of a request head in buf, from index from on
// (the bytes before it were scanned already): n is the head's length
// through CRLF CRLF, or 0. bare is set at a line feed without a carriage
// return before it: net/http reads such heads (or refuses them) at once,
// where waiting here for a CRLF CRLF that never comes would hold the
// connection until the header timeout.
func scanHead(buf []byte, from int) (n int, bare bool) {
	for i := from; i < len(buf); {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0, false
		}
		i += j
		if i == 0 || buf[i-1] != '\r' {
			return 0, true
		}
		if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
			return i + 1, false
		}
		i++
	}
	return 0, false
}

func (c *conn) head(n int) []byte {
	b, _ := c.br.Peek(n)
	return b
}

var crlf = []byte("\r\n")

// parse reads a request head strictly. fast is false for anything the fast
// path does not answer. closeAfter is set for "Connection: close".
func (c *conn) parse(head []byte) (closeAfter, fast bool) {
	r := &c.req
	*r = Request{}
	i := bytes.Index(head, crlf)
	line := head[:i]
	rest := head[i+2:]
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		line = line[4:]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		line, r.Head = line[5:], true
	default:
		return false, false
	}
	target, proto, ok := bytes.Cut(line, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" {
		return false, false
	}
	p, query, _ := bytes.Cut(target, []byte("?"))
	if !validPath(p) || !validQuery(query) {
		return false, false
	}
	hostSeen, aeSeen, inmSeen := false, false, false
	for len(rest) > 2 {
		i := bytes.Index(rest, crlf)
		hl := rest[:i]
		rest = rest[i+2:]
		colon := bytes.IndexByte(hl, ':')
		if colon <= 0 || !validName(hl[:colon]) {
			return false, false // also an obsolete line folding, which starts with a space
		}
		name, value := hl[:colon], trim(hl[colon+1:])
		if !validValue(value) {
			return false, false
		}
		switch {
		case equalFold(name, "host"):
			if hostSeen || !validHost(value) {
				return false, false
			}
			hostSeen = true
			r.Host = string(value)
		case equalFold(name, "accept-encoding"):
			if aeSeen {
				return false, false
			}
			aeSeen = true
			r.AcceptEncoding = string(value)
		case equalFold(name, "if-none-match"):
			if inmSeen {
				return false, false
			}
			inmSeen = true
			r.IfNoneMatch = string(value)
		case equalFold(name, "connection"):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = trim(tok)
				switch {
				case equalFold(tok, "close"):
					closeAfter = true
				case equalFold(tok, "keep-alive"):
				default:
					return false, false
				}
			}
		case unusual(name):
			return false, false
		}
	}
	if !hostSeen {
		return false, false
	}
	r.Path = string(p)
	return closeAfter, true
}

var unusualHeaders = []string{"content-length", "transfer-encoding", "range", "if-range", "if-match",
	"if-modified-since", "if-unmodified-since", "upgrade", "expect", "te", "trailer"}

// unusual reports headers that change what a GET means or how its
// connection continues; requests with them go to net/http.
func unusual(name []byte) bool {
	for _, n := range unusualHeaders {
		if equalFold(name, n) {
			return true
		}
	}
	return false
}

// validPath accepts an absolute path of unreserved characters and "/",
// with no empty, "." or ".." segment except a trailing "/".
func validPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for _, b := range p {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~' || b == '/') {
			return false
		}
	}
	s := string(p)
	clean := path.Clean(s)
	return clean == s || (len(s) > 1 && s[len(s)-1] == '/' && s[:len(s)-1] == clean)
}

// validQuery accepts visible ASCII except "#"; static files ignore it.
func validQuery(q []byte) bool {
	for _, b := range q {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return false
		}
	}
	return true
}

func validName(n []byte) bool {
	for _, b := range n {
		if !isToken[b] {
			return false
		}
	}
	return true
}

func validValue(v []byte) bool {
	for _, b := range v {
		if b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a DNS name or IPv4 address with an optional port.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, b := range h {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

var isToken = func() (t [256]bool) {
	for b := '0'; b <= '9'; b++ {
		t[b] = true
	}
	for b := 'a'; b <= 'z'; b++ {
		t[b], t[b-'a'+'A'] = true, true
	}
	for _, b := range "!#$%&'*+-.^_`|~" {
		t[b] = true
	}
	return
}()

func trim(b []byte) []byte { return bytes.Trim(b, " \t") }

// equalFold compares an ASCII header name with a lowercase one.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// write sends the response. sent is false when nothing was written and the
// request should go to net/http after all (the body's file is gone).
func (c *conn) write(closeAfter bool) (sent bool, err error) {
	resp := &c.resp
	headOnly := c.req.Head || resp.NotModified
	var file *os.File
	if resp.Body == nil && resp.File != "" && !headOnly {
		f, err := os.Open(resp.File)
		if err != nil {
			return false, nil
		}
		file = f
		defer file.Close()
	}
	status := "HTTP/1.1 200 OK\r\nDate: "
	if resp.NotModified {
		status = "HTTP/1.1 304 Not Modified\r\nDate: "
	}
	out := append(c.out[:0], status...)
	out = appendDate(out)
	out = append(out, "\r\n"...)
	out = append(out, resp.Header...)
	if closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	c.out = out
	c.extendWrite()
	switch {
	case headOnly:
		_, err = c.Write(out)
	case file != nil:
		err = c.sendFile(out, file, resp.Size)
	default:
		c.bufs = [2][]byte{out, resp.Body}
		bufs := net.Buffers(c.bufs[:])
		_, err = bufs.WriteTo(c.Conn) // writev
		c.bufs = [2][]byte{}
	}
	resp.Body, resp.NotModified = nil, false
	return true, err
}

// sendFile writes the head and then the file with sendfile, corked so that
// the head leaves in the same packets as the body's start.
func (c *conn) sendFile(head []byte, f *os.File, size int64) error {
	tc, _ := c.Conn.(*net.TCPConn)
	if tc != nil {
		setCork(tc, true)
		defer setCork(tc, false)
	}
	if _, err := c.Write(head); err != nil {
		return err
	}
	for size > 0 {
		c.extendWrite()
		chunk := min(size, WriteChunk)
		n, err := io.Copy(c.Conn, io.LimitReader(f, chunk)) // sendfile
		if err == nil && n < chunk {
			err = io.ErrUnexpectedEOF // the file shrank: end the connection, the length was promised
		}
		if err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// extendWrite gives the client the write timeout to take what is written
// next.
func (c *conn) extendWrite() {
	if d := c.l.cfg.WriteTimeout; d > 0 {
		c.SetWriteDeadline(time.Now().Add(d))
	}
}

func setCork(tc *net.TCPConn, on bool) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v) })
}

// The Date header, formatted once a second.
var date struct {
	sec atomic.Int64
	val atomic.Pointer[[]byte]
}

func appendDate(b []byte) []byte {
	now := time.Now()
	if sec := now.Unix(); date.sec.Load() != sec || date.val.Load() == nil {
		v := now.UTC().AppendFormat(nil, "Mon, 02 Jan 2006 15:04:05 GMT")
		date.val.Store(&v)
		date.sec.Store(sec)
	}
	return append(b, *date.val.Load()...)
}

// handedConn is a connection given to net/http: reads drain what the fast
// path buffered first.
type handedConn struct {
	net.Conn
	br *bufio.Reader
}

func (h *handedConn) Read(p []byte) (int, error) {
	if h.br != nil {
		if h.br.Buffered() > 0 {
			return h.br.Read(p)
		}
		h.br.Reset(nil)
		readers.Put(h.br)
		h.br = nil
	}
	return h.Conn.Read(p)
}

// ReadFrom keeps net/http's sendfile path for files.
func (h *handedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := h.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(h.Conn, r)
}

// CloseWrite lets net/http half-close before closing, as it does on a
// plain TCP connection.
func (h *handedConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
