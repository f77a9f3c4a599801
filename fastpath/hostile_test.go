package fastpath

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBareLFHandedOff: a head with bare line feeds goes to net/http at
// once, not after the header timeout (a minute here; the client gives up
// after ten seconds).
func TestBareLFHandedOff(t *testing.T) {
	h := newHarness(t, Config{ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute})
	for _, tt := range []struct{ name, req string }{
		{"all bare", "GET /a.txt HTTP/1.1\nHost: site.test\n\n"},
		{"bare end", "GET /a.txt HTTP/1.1\r\nHost: site.test\r\n\n"},
		{"bare inside", "GET /a.txt HTTP/1.1\r\nHost: site.test\nX-A: 1\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.fast.served.Load()
			c, br := h.dial(t)
			fmt.Fprint(c, tt.req)
			res, _ := read(t, br, "GET")
			if res.Header.Get("X-Via") != "net/http" && res.StatusCode != 400 {
				t.Fatalf("got %d %v, want net/http's answer", res.StatusCode, res.Header)
			}
			if h.fast.served.Load() != before {
				t.Fatal("the fast path answered")
			}
		})
	}
}

// TestStalledReaderCutOff: a client that asks for a large file and stops
// reading loses its connection after the write timeout, instead of holding
// it (and a goroutine and an open file) forever.
func TestStalledReaderCutOff(t *testing.T) {
	big := make([]byte, 32<<20)
	for i := range big {
		big[i] = byte(i * 13)
	}
	p := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, &files{bigPath: p, bigSize: int64(len(big))},
		Config{ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	open := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.conns)
	}
	var clients []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprint(c, "GET /big.bin HTTP/1.1\r\nHost: site.test\r\n\r\n")
		clients = append(clients, c)
	}
	// Wait for the five answers to start, then for the connections to end.
	deadline := time.Now().Add(30 * time.Second)
	for l.h.(*files).served.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 requests answered", l.h.(*files).served.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for open() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d stalled connections still held 30s on", open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// What the client had not taken is lost: the body is cut short.
	c := clients[0]
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := io.Copy(io.Discard, res.Body); n >= int64(len(big)) {
		t.Fatalf("the stalled client got all %d bytes", n)
	}
}

// TestSlowReaderKeepsGoing: a client that reads slowly but steadily gets
// the whole file, even when that takes longer than the write timeout.
func TestSlowReaderKeepsGoing(t *testing.T) {
	big := make([]byte, 24<<20)
	p := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, &files{bigPath: p, bigSize: int64(len(big))},
		Config{ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprint(c, "GET /big.bin HTTP/1.1\r\nHost: site.test\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		m, err := res.Body.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // about 3 MB/s at most: 24 MB take several timeouts
	}
	if n != int64(len(big)) {
		t.Fatalf("slow reader got %d of %d bytes after %s", n, len(big), time.Since(start))
	}
}
