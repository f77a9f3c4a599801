package fastpath

import (
	"fmt"
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
