package certs

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// HSTSMaxAge is what Strict-Transport-Security tells browsers: use only
// HTTPS for this host for a year.
const HSTSMaxAge = "max-age=31536000"

// challengePrefix is where ACME HTTP-01 challenges are asked for.
const challengePrefix = "/.well-known/acme-challenge/"

// HTTPHandler is what the plain-HTTP listener serves while HTTPS is on: the
// ACME HTTP-01 challenges, and a permanent redirect to the same URL over
// HTTPS for everything else. Hosts that can have no certificate (an IP
// address, localhost) still reach next over plain HTTP, so a health check
// on http://127.0.0.1/healthz keeps working.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if !nameable(host) {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, challengePrefix) {
			// A challenge this server did not start: never redirected,
			// so that a validation is answered here or not at all.
			http.NotFound(w, r)
			return
		}
		if m.cfg.HTTPSPort != 443 && m.cfg.HTTPSPort != 0 {
			host = net.JoinHostPort(host, strconv.Itoa(m.cfg.HTTPSPort))
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	if m.acme == nil {
		return redirect
	}
	return m.acme.HTTPChallengeHandler(redirect)
}

// HSTS adds Strict-Transport-Security to every answer of next; only for
// the HTTPS listener.
func HSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTSMaxAge)
		next.ServeHTTP(w, r)
	})
}

// hostOnly is the Host header without its port, lowercased.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// nameable reports whether a certificate can exist for host: a domain
// name, not an address, localhost or a single label.
func nameable(host string) bool {
	if host == "" || net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return false
	}
	return host != "localhost" && !strings.HasSuffix(host, ".localhost")
}
