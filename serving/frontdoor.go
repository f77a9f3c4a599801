package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/berth-dev/berth/fastpath"
)

// Router sends deployment hosts to h and every other host (the bare base
// domain, 127.0.0.1) to fallback, the API and dashboard.
func Router(h *Handler, fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Match(r.Host) {
			h.ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	})
}

// FrontDoor is berth's one HTTP listener: plain GETs of deployment files are
// answered on the fast path straight from the connection; every other
// connection goes on to net/http, where Router splits deployment hosts from
// the API and dashboard.
type FrontDoor struct {
	fast *fastpath.Listener
	http *http.Server
	log  *slog.Logger
}

// Timeouts of the front door's connections.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
)

// Open starts serving l: deployment hosts by h, the rest by fallback. Past
// h's MaxConns open connections, new ones wait in the listen queue until
// one ends.
func Open(l net.Listener, h *Handler, fallback http.Handler, log *slog.Logger) *FrontDoor {
	f := &FrontDoor{log: log}
	if h.cfg.MaxConns > 0 {
		// Under the fast path, so that a connection counts from accept
		// to close whichever path serves it (net/http closes the ones
		// handed to it, which releases them too).
		l = netutil.LimitListener(l, h.cfg.MaxConns)
	}
	f.fast = fastpath.Listen(l, h, fastpath.Config{ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		WriteTimeout: h.cfg.WriteTimeout})
	f.http = &http.Server{Handler: Router(h, fallback), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}
	go func() {
		if err := f.http.Serve(f.fast); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", slog.Any("error", err))
		}
	}()
	return f
}

// OpenTLS serves HTTPS on l with tc, every connection through net/http:
// HTTP/2 when the client offers it (tc's NextProtos list "h2"), HTTP/1.1
// otherwise. handler answers every request (Router, behind what HTTPS
// adds). The fast path reads plain-text HTTP/1.1 only and is not used:
// HTTP/2 needs net/http's server, and so does the TLS handshake.
func OpenTLS(l net.Listener, tc *tls.Config, handler http.Handler, maxConns int, log *slog.Logger) *FrontDoor {
	if maxConns > 0 {
		// Under TLS, so that net/http is handed *tls.Conn, which it
		// needs to speak HTTP/2.
		l = netutil.LimitListener(l, maxConns)
	}
	return serve(tls.NewListener(l, tc), handler, log)
}

// OpenPlain serves plain HTTP on l through net/http alone, with handler
// answering every request: the HTTP listener while HTTPS is on, which
// redirects rather than serves.
func OpenPlain(l net.Listener, handler http.Handler, maxConns int, log *slog.Logger) *FrontDoor {
	if maxConns > 0 {
		l = netutil.LimitListener(l, maxConns)
	}
	return serve(l, handler, log)
}

// serve is a front door of net/http alone. Its connection errors (a
// scanner's handshake for a name berth has no certificate for, every few
// seconds on a public address) are logged at debug level.
func serve(l net.Listener, handler http.Handler, log *slog.Logger) *FrontDoor {
	f := &FrontDoor{log: log, http: &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	go func() {
		if err := f.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", slog.Any("error", err))
		}
	}()
	return f
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// ones in flight on both paths.
func (f *FrontDoor) Shutdown(ctx context.Context) error {
	var errs []error
	if err := f.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down http: %w", err))
	}
	if f.fast == nil {
		return errors.Join(errs...)
	}
	if err := f.fast.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down fast path: %w", err))
	}
	return errors.Join(errs...)
}
