package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"golang.org/x/time/rate"
)

// selfSigned writes a self-signed certificate for names and its key into
// dir and returns their paths and the certificate.
func selfSigned(t *testing.T, dir string, names ...string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serveTLS answers "ok" over HTTPS with m's configuration on a loopback
// port and returns its address.
func serveTLS(t *testing.T, m *Manager) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: HSTS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })),
		ErrorLog: nil}
	go srv.Serve(tls.NewListener(l, m.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// client trusts roots and dials addr whatever the URL's host.
func client(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestManualServesItsCertificateOverHTTP2(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t, t.TempDir(), "berth.example.test", "*.apps.example.test")
	m, err := New(context.Background(), Config{Mode: Manual, CertFile: certFile, KeyFile: keyFile}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"berth.example.test", "site.apps.example.test"} {
		resp, err := client(addr, roots).Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET https://%s/: %v", host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || string(body) != "ok" {
			t.Fatalf("%s answered %s %q, want HTTP/2.0 ok", host, resp.Proto, body)
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(cert.SerialNumber) != 0 {
			t.Fatalf("%s served certificate serial %s, want the operator's %s", host, got, cert.SerialNumber)
		}
		if resp.Header.Get("Strict-Transport-Security") != HSTSMaxAge {
			t.Fatalf("no HSTS header: %v", resp.Header)
		}
	}
	// HTTP/1.1 over TLS still works.
	c := client(addr, roots)
	c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	c.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
	resp, err := c.Get("https://berth.example.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/1.1" {
		t.Fatalf("HTTP/1.1 client got %s", resp.Proto)
	}
}

func TestManualRefusesAMissingCertificate(t *testing.T) {
	_, err := New(context.Background(), Config{Mode: Manual, CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}, quietLog())
	if err == nil {
		t.Fatal("manual mode started without its certificate")
	}
}

func TestDecide(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir(), "*.apps.test")
	known := map[string]bool{"site.apps.test": true, "0123abcd-preview.apps.test": true, "site.localhost": true, "127.0.0.1": true}
	m, err := New(context.Background(), Config{Mode: Auto, Directory: "https://127.0.0.1:1/directory", Dir: t.TempDir(),
		CertFile: certFile, KeyFile: keyFile, Dashboard: "berth.dash.test",
		Knows: func(_ context.Context, host string) bool { return known[host] }}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"berth.dash.test", true},
		{"BERTH.dash.test.", true},
		{"site.apps.test", false},             // the operator's wildcard covers it
		{"0123abcd-preview.apps.test", false}, // and this one
		{"unknown.apps.test", false},
		{"evil.example.com", false},
		{"site.localhost", false}, // known, but no CA validates a localhost name
		{"127.0.0.1", false},
		{"", false},
	} {
		if err := m.decide(context.Background(), tt.name); (err == nil) != tt.ok {
			t.Errorf("decide(%q) = %v, want allowed %v", tt.name, err, tt.ok)
		}
	}
	m.operator = nil // without the wildcard, known hosts are ordered one by one
	for _, name := range []string{"site.apps.test", "0123abcd-preview.apps.test"} {
		if err := m.decide(context.Background(), name); err != nil {
			t.Errorf("decide(%q) without a wildcard = %v, want allowed", name, err)
		}
	}
	if err := m.decide(context.Background(), "other.apps.test"); !errors.Is(err, errUnknownHost) {
		t.Errorf("decide(other.apps.test) = %v, want errUnknownHost", err)
	}
}

// fakeIssuer counts the orders that reach it.
type fakeIssuer struct{ orders atomic.Int32 }

func (f *fakeIssuer) Issue(context.Context, *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	f.orders.Add(1)
	return &certmagic.IssuedCertificate{}, nil
}
func (f *fakeIssuer) IssuerKey() string                              { return "fake" }
func (f *fakeIssuer) PreCheck(context.Context, []string, bool) error { return nil }
func (f *fakeIssuer) Revoke(context.Context, certmagic.CertificateResource, int) error {
	return nil
}
func (f *fakeIssuer) GetRenewalInfo(context.Context, certmagic.Certificate) (acme.RenewalInfo, error) {
	return acme.RenewalInfo{}, nil
}

func TestOrdersAreRateLimited(t *testing.T) {
	fake := &fakeIssuer{}
	l := &limitedIssuer{acmeIssuer: fake, orders: rate.NewLimiter(rate.Every(time.Hour), 3), log: quietLog()}
	csr := &x509.CertificateRequest{DNSNames: []string{"site.apps.test"}}
	var refused int
	for range 10 {
		if _, err := l.Issue(context.Background(), csr); errors.Is(err, errTooManyOrders) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if fake.orders.Load() != 3 || refused != 7 {
		t.Fatalf("%d orders reached the CA and %d were refused, want 3 and 7", fake.orders.Load(), refused)
	}
}

// TestUnknownHostOrdersNothing points berth at an ACME server that counts
// every request: a handshake for a name berth does not serve fails without
// a single request to it, one for a name it serves reaches it.
func TestUnknownHostOrdersNothing(t *testing.T) {
	var requests atomic.Int32
	ca := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer ca.Close()
	dir := t.TempDir()
	root := filepath.Join(dir, "ca.pem")
	os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600)
	m, err := New(context.Background(), Config{Mode: Auto, Directory: ca.URL + "/directory", CARoot: root, Dir: filepath.Join(dir, "certs"),
		Knows: func(_ context.Context, host string) bool { return host == "site.apps.test" }}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m)
	handshake := func(name string) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, name := range []string{"unknown.apps.test", "evil.example.com", "a.b.c.apps.test"} {
		if err := handshake(name); err == nil {
			t.Fatalf("handshake for %s succeeded", name)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("unknown names made %d requests to the ACME server", n)
	}
	// The same check sees an order when there is one.
	go handshake("site.apps.test")
	deadline := time.Now().Add(60 * time.Second)
	for requests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a known name never reached the ACME server")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHTTPHandler(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
	for _, tt := range []struct {
		httpsPort     int
		host, target  string
		status        int
		location, got string
	}{
		{8443, "site.apps.test:8080", "/a/b?c=d", 308, "https://site.apps.test:8443/a/b?c=d", ""},
		{443, "Site.Apps.Test", "/", 308, "https://site.apps.test/", ""},
		{443, "berth.dash.test:80", "/v1/projects", 308, "https://berth.dash.test/v1/projects", ""},
		{443, "site.apps.test", "/.well-known/acme-challenge/unknown-token", 404, "", ""},
		{443, "127.0.0.1:8080", "/healthz", 200, "", "plain"},
		{443, "[::1]:8080", "/healthz", 200, "", "plain"},
		{443, "localhost:8080", "/", 200, "", "plain"},
		{443, "x.localhost", "/", 200, "", "plain"},
	} {
		m := &Manager{cfg: Config{HTTPSPort: tt.httpsPort}}
		r := httptest.NewRequest(http.MethodGet, "http://"+tt.host+tt.target, nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		m.HTTPHandler(next).ServeHTTP(w, r)
		if w.Code != tt.status || w.Header().Get("Location") != tt.location || tt.got != "" && w.Body.String() != tt.got {
			t.Errorf("%s%s: %d Location %q body %q, want %d %q %q", tt.host, tt.target, w.Code, w.Header().Get("Location"),
				w.Body.String(), tt.status, tt.location, tt.got)
		}
	}
}

// TestOperatorWildcardInAutoMode: beside ACME, the operator's wildcard
// certificate answers the names it covers, with no ACME request.
func TestOperatorWildcardInAutoMode(t *testing.T) {
	var requests atomic.Int32
	ca := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer ca.Close()
	dir := t.TempDir()
	root := filepath.Join(dir, "ca.pem")
	os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600)
	certFile, keyFile, wildcard := selfSigned(t, dir, "*.apps.test")
	m, err := New(context.Background(), Config{Mode: Auto, Directory: ca.URL + "/directory", CARoot: root, Dir: filepath.Join(dir, "certs"),
		CertFile: certFile, KeyFile: keyFile, Knows: func(context.Context, string) bool { return true }}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := serveTLS(t, m)
	roots := x509.NewCertPool()
	roots.AddCert(wildcard)
	resp, err := client(addr, roots).Get("https://0123abcd-preview.apps.test/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(wildcard.SerialNumber) != 0 {
		t.Fatalf("preview host: %s with certificate %s, want HTTP/2.0 with the operator's", resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("a name the operator's certificate covers made %d ACME requests", n)
	}
}
