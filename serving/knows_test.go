package serving

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

func TestKnows(t *testing.T) {
	sh := newStaticHarness(t)
	ctx := context.Background()
	shop := sh.project(t, "shop")
	sh.project(t, "empty") // nothing deployed yet: still known, its first deployment is served over HTTPS at once
	d := sh.deploy(t, shop, map[string][]byte{"index.html": []byte("hi")}, model.StateReady)
	building := sh.deploy(t, shop, map[string][]byte{"index.html": []byte("hi")}, model.StateBuilding)
	if _, err := sh.db.SetProductionDeployment(ctx, shop.ID, d.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	// Custom domains: a verified one is known, a waiting one is not.
	for _, n := range []string{"www.shop.test", "pending.shop.test"} {
		if err := sh.db.CreateDomain(ctx, sh.owner, &store.Domain{Name: n, ProjectID: shop.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sh.db.RecordDomainCheck(ctx, "www.shop.test", true, ""); err != nil {
		t.Fatal(err)
	}
	sh.h.Invalidate()
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"shop.localhost", true},
		{"SHOP.localhost.", true},
		{"empty.localhost", true},
		{d.PreviewHost + ".localhost", true},
		{building.PreviewHost + ".localhost", true},
		{"deadbeef-preview.localhost", false},
		{"nope.localhost", false},
		{"a.shop.localhost", false},
		{"localhost", false},
		{"shop.example.com", false},
		{"www.shop.test", true},
		{"WWW.shop.test:443", true},
		{"pending.shop.test", false},
		{"127.0.0.1", false},
	} {
		if got := sh.h.Knows(ctx, tt.host); got != tt.want {
			t.Errorf("Knows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// TestOpenTLS: the HTTPS door speaks HTTP/2 and HTTP/1.1 and routes hosts
// as the plain one does.
func TestOpenTLS(t *testing.T) {
	sh := newStaticHarness(t)
	p := sh.project(t, "shop")
	d := sh.deploy(t, p, map[string][]byte{"index.html": []byte("the shop")}, model.StateReady)
	if _, err := sh.db.SetProductionDeployment(context.Background(), p.ID, d.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	cert, pool := testCert(t, "*.localhost", "berth.example.test")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the API") })
	f := OpenTLS(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		Router(sh.h, api), 10, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer f.Shutdown(context.Background())
	for _, h2 := range []bool{true, false} {
		tc := &tls.Config{RootCAs: pool}
		if !h2 {
			tc.NextProtos = []string{"http/1.1"}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: h2,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, l.Addr().String())
			}}}
		for host, want := range map[string]string{"shop.localhost": "the shop", "berth.example.test": "the API"} {
			res, err := c.Get("https://" + host + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			proto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
			if string(body) != want || res.Proto != proto {
				t.Errorf("%s: %s %q, want %s %q", host, res.Proto, body, proto, want)
			}
		}
	}
}

// testCert is a self-signed certificate for names and a pool trusting it.
func testCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
