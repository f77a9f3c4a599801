package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/dnstest"
)

// TestAutomaticHTTPS runs berth with BERTH_TLS=auto against Pebble, a real
// ACME server, with pebble-challtestsrv answering DNS so that every test
// name is 127.0.0.1, and Pebble validating HTTP-01 and TLS-ALPN-01 on
// berth's own ports. A static site is deployed and served over HTTP/2 with
// a certificate from Pebble; plain HTTP redirects; a name berth does not
// serve gets no certificate and causes no order; a short-lived
// certificate is renewed.
func TestAutomaticHTTPS(t *testing.T) {
	requireEnv(t, "BERTH_TEST_PEBBLE", "BERTH_TEST_CHALLTESTSRV", "BERTH_TEST_PEBBLE_DIR")
	httpPort, httpsPort := freePort(t), freePort(t)
	pb := startPebble(t, httpPort, httpsPort)
	// berth verifies custom domains against a DNS server of the test;
	// Pebble resolves every name to 127.0.0.1 through challtestsrv.
	dns := dnstest.Start(t)

	dataDir := t.TempDir()
	b := startBerth(t, dataDir,
		"BERTH_DNS_RESOLVER="+dns.Addr(),
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		fmt.Sprintf("BERTH_ADDR=127.0.0.1:%d", httpPort),
		fmt.Sprintf("BERTH_HTTPS_ADDR=127.0.0.1:%d", httpsPort),
		"BERTH_TLS=auto",
		"BERTH_ACME_DIRECTORY="+pb.directory,
		"BERTH_ACME_CA_ROOT="+filepath.Join(os.Getenv("BERTH_TEST_PEBBLE_DIR"), "test/certs/pebble.minica.pem"),
		"BERTH_ACME_EMAIL=ops@dash.test",
		"BERTH_APP_DOMAIN=apps.test",
		fmt.Sprintf("BERTH_PUBLIC_URL=https://berth.dash.test:%d", httpsPort),
	)

	// A one-page static site, deployed through the API on plain HTTP at
	// 127.0.0.1 (an address has no certificate, so it is not redirected).
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><h1>served over tls</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "A static site", true)
	var p struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": "site", "git_url": dir}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("create deployment: %d", code)
	}
	if d = b.waitState(d.ID, 5*time.Minute, terminal); d.State != "ready" {
		t.Fatalf("deployment %s: %s", d.State, d.Error)
	}
	site := p.Slug + ".apps.test"
	c := loopbackClient(pb.roots)
	https := func(host, path string) string { return fmt.Sprintf("https://%s:%d%s", host, httpsPort, path) }

	// The first request's handshake orders the certificate; the
	// production pointer may follow the ready state a moment later.
	var resp *http.Response
	var body []byte
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		resp, body, err = get(c, https(site, "/"))
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v %v %q\nPebble:\n%s", https(site, "/"), err, resp, body, pb.logText())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), "served over tls") {
		t.Fatalf("%s answered %s %q, want the site over HTTP/2.0", site, resp.Proto, body)
	}
	chain := resp.TLS.VerifiedChains[0]
	if !chain[len(chain)-1].Equal(pb.root) {
		t.Fatalf("the certificate of %s does not chain to Pebble's root", site)
	}
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS on %s: %v", site, resp.Header)
	}
	firstSerial := resp.TLS.PeerCertificates[0].SerialNumber
	if stored, _ := filepath.Glob(filepath.Join(dataDir, "certs", "certificates", "*", site, site+".crt")); len(stored) != 1 {
		t.Errorf("the certificate of %s is not stored under the data dir: %v", site, stored)
	}

	t.Run("dashboard over HTTPS", func(t *testing.T) {
		resp, body, err := get(c, https("berth.dash.test", "/healthz"))
		if err != nil || resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
			t.Fatalf("GET dashboard /healthz: %v %v %q", err, resp, body)
		}
		if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS on the dashboard: %v", resp.Header)
		}
	})

	t.Run("HTTP redirects except ACME challenges", func(t *testing.T) {
		resp, _, err := get(c, fmt.Sprintf("http://%s:%d/a/b?c=d", site, httpPort))
		want := https(site, "/a/b?c=d")
		if err != nil || resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("plain HTTP: %v %v, want 308 to %s", err, resp, want)
		}
		resp, _, err = get(c, fmt.Sprintf("http://%s:%d/.well-known/acme-challenge/not-a-token", site, httpPort))
		if err != nil || resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
			t.Fatalf("challenge path: %v %v, want a 404 without a redirect", err, resp)
		}
	})

	t.Run("unknown host gets no certificate and no order", func(t *testing.T) {
		unknown := []string{"unknown.apps.test", "0badbeef-preview.apps.test", "stranger.dash.test"}
		for _, name := range unknown {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: name, RootCAs: pb.roots})
			if err == nil {
				conn.Close()
				t.Fatalf("TLS handshake for %s succeeded", name)
			}
		}
		// The decision is taken during the handshake, so an order would
		// be in both logs by now. The same checks find the known site's
		// order, so they can fail.
		for _, name := range append(unknown, site) {
			inPebble := strings.Contains(pb.logText(), `Value:"`+name+`"`)
			inBerth := ordered(b.logText(), name)
			if known := name == site; inPebble != known || inBerth != known {
				t.Errorf("%s: Pebble saw an order: %v, berth ordered: %v; want %v", name, inPebble, inBerth, known)
			}
		}
	})

	t.Run("verified custom domain gets a certificate", func(t *testing.T) {
		const custom = "www.shop.test"
		doms := "/v1/projects/" + p.ID + "/domains"
		if code := b.api(http.MethodPost, doms, map[string]any{"name": custom}, nil); code != http.StatusCreated {
			t.Fatalf("add domain: %d", code)
		}
		// Before verification the name is not berth's to serve: no
		// certificate, no order.
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: custom, RootCAs: pb.roots})
		if err == nil {
			conn.Close()
			t.Fatalf("TLS handshake for the unverified %s succeeded", custom)
		}
		if ordered(b.logText(), custom) {
			t.Fatalf("berth ordered a certificate for the unverified %s", custom)
		}
		dns.SetCNAME(custom, site)
		var v struct {
			Verified bool   `json:"verified"`
			Error    string `json:"error"`
		}
		if code := b.api(http.MethodPost, doms+"/"+custom+"/verify", nil, &v); code != http.StatusOK || !v.Verified {
			t.Fatalf("verify %s: %d %+v", custom, code, v)
		}
		var resp *http.Response
		var body []byte
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, body, err = get(c, https(custom, "/"))
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v %v %q", https(custom, "/"), err, resp, body)
			}
			time.Sleep(500 * time.Millisecond)
		}
		if resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), "served over tls") {
			t.Fatalf("%s answered %s %q, want the site over HTTP/2.0", custom, resp.Proto, body)
		}
		if names := resp.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != custom {
			t.Errorf("%s was served a certificate for %v", custom, names)
		}
		chain := resp.TLS.VerifiedChains[0]
		if !chain[len(chain)-1].Equal(pb.root) || !ordered(b.logText(), custom) {
			t.Errorf("the certificate of %s is not an order of berth's chaining to Pebble's root", custom)
		}
	})

	t.Run("short-lived certificate is renewed", func(t *testing.T) {
		// Pebble's certificates live 5 minutes here: certmagic renews one
		// that close to its end when a handshake finds it.
		deadline := time.Now().Add(3 * time.Minute)
		for {
			conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: site, RootCAs: pb.roots})
			if err == nil {
				serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
				conn.Close()
				if serial.Cmp(firstSerial) != 0 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves certificate %s after 3 minutes (last error %v)", site, firstSerial, err)
			}
			time.Sleep(time.Second)
		}
	})
}

// ordered reports whether berth's log shows a certificate order for name.
func ordered(log, name string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="ordering certificate"`) && regexp.MustCompile(`\b`+regexp.QuoteMeta(name)+`\b`).MatchString(line) {
			return true
		}
	}
	return false
}

// loopbackClient trusts roots, dials 127.0.0.1 whatever the URL's host
// (keeping its port), speaks HTTP/2 when it can and does not follow
// redirects.
func loopbackClient(roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(c *http.Client, url string) (*http.Response, []byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// pebble is a running Pebble with its DNS server.
type pebble struct {
	directory string
	root      *x509.Certificate // issues the certificates
	roots     *x509.CertPool    // just root
	mu        sync.Mutex
	log       bytes.Buffer
}

func (p *pebble) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// lockedWriter lets two processes write one buffer.
type lockedWriter struct{ p *pebble }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// startPebble starts pebble-challtestsrv (DNS: every name is 127.0.0.1)
// and Pebble, validating challenges on berth's HTTP and HTTPS ports, with
// certificates valid for 5 minutes; it returns once Pebble's root can be
// fetched.
func startPebble(t *testing.T, httpPort, httpsPort int) *pebble {
	t.Helper()
	p := &pebble{}
	dir := t.TempDir()
	dns := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	acmePort, mgmtPort := freePort(t), freePort(t)
	run := func(name string, env []string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = lockedWriter{p}, lockedWriter{p}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s log:\n%s", filepath.Base(name), p.logText())
			}
		})
	}
	run(os.Getenv("BERTH_TEST_CHALLTESTSRV"), nil, "-dnsserver", dns, "-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	certs := filepath.Join(os.Getenv("BERTH_TEST_PEBBLE_DIR"), "test/certs")
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             filepath.Join(certs, "localhost/cert.pem"),
		"privateKey":              filepath.Join(certs, "localhost/key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 httpsPort,
		"ocspResponderURL":        "",
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "short-lived, so that renewal happens during the test", "validityPeriod": 300}},
	}}
	data, _ := json.Marshal(config)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run(os.Getenv("BERTH_TEST_PEBBLE"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgFile, "-dnsserver", dns)
	p.directory = fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort)

	minica, err := os.ReadFile(filepath.Join(certs, "pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minica)
	mgmt := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body, err := get(mgmt, fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
		if err == nil && resp.StatusCode == http.StatusOK {
			p.roots = x509.NewCertPool()
			if !p.roots.AppendCertsFromPEM(body) {
				t.Fatalf("Pebble's root is no PEM certificate: %q", body)
			}
			if p.root, err = parsePEMCert(body); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pebble did not answer in 30s (%v):\n%s", err, p.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func parsePEMCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no certificate in PEM %q", data)
	}
	return x509.ParseCertificate(block.Bytes)
}

// TestHTTPSOverHTTP01 makes Pebble validate TLS-ALPN-01 on a port where
// nothing listens, so that certificates can only come through HTTP-01 on
// berth's plain-HTTP listener (ACME clients pick a challenge type at
// random, and TestAutomaticHTTPS may use either): the dashboard's host
// gets its certificate all the same.
func TestHTTPSOverHTTP01(t *testing.T) {
	requireEnv(t, "BERTH_TEST_PEBBLE", "BERTH_TEST_CHALLTESTSRV", "BERTH_TEST_PEBBLE_DIR")
	httpPort, httpsPort, nowhere := freePort(t), freePort(t), freePort(t)
	pb := startPebble(t, httpPort, nowhere)
	b := startBerth(t, t.TempDir(),
		fmt.Sprintf("BERTH_ADDR=127.0.0.1:%d", httpPort),
		fmt.Sprintf("BERTH_HTTPS_ADDR=127.0.0.1:%d", httpsPort),
		"BERTH_TLS=auto",
		"BERTH_ACME_DIRECTORY="+pb.directory,
		"BERTH_ACME_CA_ROOT="+filepath.Join(os.Getenv("BERTH_TEST_PEBBLE_DIR"), "test/certs/pebble.minica.pem"),
		"BERTH_APP_DOMAIN=apps.test",
		fmt.Sprintf("BERTH_PUBLIC_URL=https://berth.dash.test:%d", httpsPort),
	)
	c := loopbackClient(pb.roots)
	url := fmt.Sprintf("https://berth.dash.test:%d/healthz", httpsPort)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, body, err := get(c, url)
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v %v %q\nberth:\n%s\nPebble:\n%s", url, err, resp, body, b.logText(), pb.logText())
		}
		time.Sleep(500 * time.Millisecond)
	}
	want := fmt.Sprintf("Attempting to validate w/ HTTP: http://berth.dash.test:%d/.well-known/acme-challenge/", httpPort)
	if !strings.Contains(pb.logText(), want) {
		t.Fatalf("Pebble never validated over HTTP-01 (%q):\n%s", want, pb.logText())
	}
}
