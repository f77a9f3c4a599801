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
	err      error
}

type failureKey struct{}

type failureCtx struct {
	f     *upstreamFailure
	retry bool
}

func withFailure(ctx context.Context, f *upstreamFailure, retry bool) context.Context {
	return context.WithValue(ctx, failureKey{}, &failureCtx{f: f, retry: retry})
}

// maxResponseHeaderBytes bounds the response head an app may send: the
// transport holds it all in memory before the proxy sees any of it.
const maxResponseHeaderBytes = 1 << 20

// newTransport keeps connections to the servers alive between requests. An
// app cannot make berth hold more than maxResponseHeaderBytes of its
// response head, nor wait for one longer than headerTimeout.
func newTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    128,
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true, // pass the app's encoding through untouched
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ResponseHeaderTimeout:  headerTimeout,
	}
}

// clientIPHeaders name the visitor's address; other proxies and CDNs set
// them, so apps trust them. Whatever a visitor sent under these names is
// dropped (Rewrite has already dropped Forwarded and X-Forwarded-*), and
// X-Real-IP is set to the address berth saw.
var clientIPHeaders = []string{"X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Client-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "Forwarded"}

// setClientIP replaces the visitor-sent address headers of out.
func setClientIP(out *http.Request, remoteAddr string) {
	for _, h := range clientIPHeaders {
		out.Header.Del(h)
	}
	if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
		out.Header.Set("X-Real-Ip", ip)
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
			setClientIP(pr.Out, pr.In.RemoteAddr)
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
				fc.f.err = err
				if fc.retry && !errors.Is(err, context.Canceled) {
					fc.f.deferred = true
					return
				}
			}
			writeUpstreamError(w, r, addr, err, log)
		},
	}
}

// writeUpstreamError answers a request the app's server failed: 504 when it
// took too long to answer, 502 otherwise, nothing when the visitor left.
func writeUpstreamError(w http.ResponseWriter, r *http.Request, addr string, err error, log *slog.Logger) {
	if errors.Is(err, context.Canceled) {
		return // the visitor left
	}
	log.Warn("proxy to app server", slog.String("upstream", addr), slog.Any("error", err))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		page.Write(w, r, http.StatusGatewayTimeout, "The app took too long to answer", "This deployment's server did not begin its answer in time. Try again in a moment.")
		return
	}
	page.Write(w, r, http.StatusBadGateway, "The app did not answer", "This deployment's server could not be reached, or its answer was too large. Try again in a moment.")
}
