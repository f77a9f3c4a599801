package apps

import (
	"net"
	"net/http"
	"strings"
)

// scopeCookies keeps an app's cookies on the app's own host: a Domain
// attribute naming anything but the visitor's host (Domain=localhost, the
// apps domain, a parent of it) is removed, so the cookie is host-only. A
// deployed site could otherwise plant a cookie on every host under the
// apps domain (other tenants' sites) or, where browsers allow it, on the
// dashboard. Every other attribute is kept as the app wrote it.
func scopeCookies(h http.Header, host string) {
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(host, ".")
	lines := h.Values("Set-Cookie")
	for i, line := range lines {
		lines[i] = scopeCookie(line, host)
	}
}

// scopeCookie returns one Set-Cookie value without its foreign Domain
// attributes. Browsers split the value on ";" (a cookie value cannot hold
// one), and so does this.
func scopeCookie(line, host string) string {
	parts := strings.Split(line, ";")
	kept := []string{parts[0]}
	for _, p := range parts[1:] {
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "domain") {
			d := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(value), "."), ".")
			if !strings.EqualFold(d, host) {
				continue
			}
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, ";")
}
