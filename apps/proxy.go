package apps

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/berth-dev/berth/internal/page"
)

// upstreamFailure records that the proxy could not reach the server, and
// whether the error page was held back so the caller can retry.
type upstreamFailure struct {
	happened bool
	deferred bool
}

type failureKey struct{}

type failureCtx struct {
	f     *upstreamFailure
	retry bool
}

func withFailure(ctx context.Context, f *upstreamFailure, retry bool) context.Context {
	return context.WithValue(ctx, failureKey{}, &failureCtx{f: f, retry: retry})
}

// newTransport keeps connections to the servers alive between requests.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the app's encoding through untouched
	}
}

// newProxy proxies to one server. httputil.ReverseProxy strips hop-by-hop
// headers both ways and passes WebSocket upgrades through; Rewrite (not
// Director) keeps client-sent X-Forwarded-* headers from being trusted;
// FlushInterval -1 flushes every write, so streamed responses arrive in
// pieces.
func newProxy(addr string, transport http.RoundTripper, log *slog.Logger) http.Handler {
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the app sees the host the visitor used
			pr.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ModifyResponse: func(res *http.Response) error {
			scopeCookies(res.Header, res.Request.Host) // see cookies.go
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if fc, ok := r.Context().Value(failureKey{}).(*failureCtx); ok {
				fc.f.happened = true
				if fc.retry && !errors.Is(err, context.Canceled) {
					fc.f.deferred = true
					return
				}
			}
			if errors.Is(err, context.Canceled) {
				return // the visitor left
			}
			log.Warn("proxy to app server", slog.String("upstream", addr), slog.Any("error", err))
			page.Write(w, r, http.StatusBadGateway, "The app did not answer", "This deployment's server could not be reached. Try again in a moment.")
		},
	}
}
