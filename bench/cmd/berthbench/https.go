package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// https compares the 10 KB static file over HTTPS with HTTP/2 (h2load, 50
// connections, 10 streams each) from berth with BERTH_TLS=manual and from
// nginx (ssl http2) with the same certificate, taking turns.
func (b *bench) https(ctx context.Context) error {
	tc, err := selfSigned(mkdir(b.o.work, "tls"), "localhost", "*.localhost")
	if err != nil {
		return err
	}
	p, err := startBerth(ctx, b.o, mkdir(b.o.work, "berth-https-data"),
		"BERTH_TLS=manual", "BERTH_TLS_CERT="+tc.cert, "BERTH_TLS_KEY="+tc.key, "BERTH_HTTPS_ADDR=127.0.0.1:0")
	if err != nil {
		return err
	}
	defer p.stop()
	if p.https == "" {
		return fmt.Errorf("berth did not log its HTTPS address:\n%s", p.logText())
	}
	site := mkdir(b.o.work, "https-site")
	if err := staticSite(site); err != nil {
		return err
	}
	if err := commitRepo(site); err != nil {
		return err
	}
	_, d, _, err := p.deployRepo(ctx, "https bench", site, nil, 5*time.Minute)
	if err != nil {
		return err
	}
	ng, err := startNginx(b.o.work, site, tc)
	if err != nil {
		return err
	}
	defer ng.stop()
	bare, err := startBare(site, tc)
	if err != nil {
		return err
	}
	defer bare.stop()

	const path = "/assets/app-10k.js"
	_, berthPort := splitHostPort(p.https)
	berthURL := "https://" + d.host() + ":" + berthPort + path
	nginxURL := "https://localhost:" + strings.Split(ng.addr, ":")[1] + path
	bareURL := "https://localhost:" + strings.Split(bare.addr, ":")[1] + path
	for _, w := range []struct{ url, addr string }{{berthURL, p.https}, {nginxURL, ng.addr}, {bareURL, bare.addr}} { // warm up
		if _, err := h2load(ctx, w.url, w.addr, time.Second); err != nil {
			return err
		}
	}
	var bRPS, nRPS, gRPS, ratios, bareRatios []float64
	var raw []string
	for i := range b.o.pairs {
		var br, nr, gr float64
		runs := []func() error{
			func() (err error) { br, err = h2load(ctx, berthURL, p.https, b.o.duration); return },
			func() (err error) { nr, err = h2load(ctx, nginxURL, ng.addr, b.o.duration); return },
			func() (err error) { gr, err = h2load(ctx, bareURL, bare.addr, b.o.duration); return },
		}
		for k := range runs { // rotate the order round by round
			if err := runs[(i+k)%len(runs)](); err != nil {
				return err
			}
		}
		bRPS, nRPS, gRPS = append(bRPS, br), append(nRPS, nr), append(gRPS, gr)
		ratios, bareRatios = append(ratios, br/nr), append(bareRatios, gr/nr)
		raw = append(raw, fmt.Sprintf("round %d: berth %.0f req/s; nginx %.0f req/s; bare net/http %.0f req/s", i+1, br, nr, gr))
	}
	r := median(ratios)
	b.r.add(row{
		Name:     "static 10 KB file over HTTPS, HTTP/2 (h2load, 50 connections × 10 streams)",
		Berth:    fmt.Sprintf("%.0f req/s", median(bRPS)),
		Baseline: fmt.Sprintf("nginx %.0f req/s", median(nRPS)),
		Compare:  ratio(r) + " req/s",
		Target:   "≥ 0.75× req/s",
		Met:      r >= 0.75,
		Raw:      raw,
	})
	b.r.note("static 10 KB over HTTPS: a bare in-memory net/http handler (HTTP/2, same certificate) reached %.0f req/s, %s nginx's, in the same rounds.",
		median(gRPS), ratio(median(bareRatios)))
	return nil
}

var (
	h2RPSRe   = regexp.MustCompile(`finished in [\d.]+\w+, ([\d.]+) req/s`)
	h2DoneRe  = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
	h2ProtoRe = regexp.MustCompile(`Application protocol: (\S+)`)
)

// h2load requests url over HTTP/2 for d, connecting to addr whatever the
// URL's host, and returns the requests per second.
func h2load(ctx context.Context, url, addr string, d time.Duration) (float64, error) {
	out, err := exec.CommandContext(ctx, "h2load", "-c", "50", "-t", "2", "-m", "10",
		"-D", strconv.Itoa(max(int(d.Seconds()), 1)), "--connect-to="+addr, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("h2load %s: %w\n%s", url, err, out)
	}
	if m := h2ProtoRe.FindSubmatch(out); m == nil || string(m[1]) != "h2" {
		return 0, fmt.Errorf("h2load %s did not speak HTTP/2:\n%s", url, out)
	}
	m := h2DoneRe.FindSubmatch(out)
	if m == nil || string(m[5]) != "0" || string(m[6]) != "0" || string(m[3]) != string(m[4]) {
		return 0, fmt.Errorf("h2load %s: failed requests:\n%s", url, out)
	}
	rps := h2RPSRe.FindSubmatch(out)
	if rps == nil {
		return 0, fmt.Errorf("no req/s in h2load output:\n%s", out)
	}
	return strconv.ParseFloat(string(rps[1]), 64)
}

func splitHostPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

// tlsFiles is a certificate and key on disk.
type tlsFiles struct{ cert, key string }

func nginxTLS(tc *tlsFiles) string {
	if tc == nil {
		return ""
	}
	// keepalive_requests: nginx closes an HTTP/2 connection after 1000
	// requests by default, failing the streams h2load has in flight;
	// berth sets no such limit.
	return fmt.Sprintf(" ssl http2;\n    ssl_certificate %s;\n    ssl_certificate_key %s;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    keepalive_requests 1000000", tc.cert, tc.key)
}

// selfSigned writes an ECDSA P-256 certificate for names, the kind of key
// ACME CAs issue for by default.
func selfSigned(dir string, names ...string) (*tlsFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	tc := &tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(tc.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return tc, os.WriteFile(tc.key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
