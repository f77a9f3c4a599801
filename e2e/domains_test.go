package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/dnstest"
)

// domainOut is a custom domain as the API shows it.
type domainOut struct {
	Name       string `json:"name"`
	Verified   bool   `json:"verified"`
	RedirectTo string `json:"redirect_to"`
	Records    []struct {
		Type, Name, Value string
	} `json:"records"`
	Error string `json:"error"` // a failed verification's sentence
}

// TestCustomDomains: through the real binary, a static site gets the custom
// domain www.example.test: berth names the CNAME to create, verifies it
// against a DNS server on loopback (BERTH_DNS_RESOLVER) and then serves the
// site there; the apex, verified by its address and TXT token, redirects to
// www; a removed domain no longer serves the site.
func TestCustomDomains(t *testing.T) {
	requireEnv(t)
	dns := dnstest.Start(t)
	b := startBerth(t, t.TempDir(), "BERTH_DNS_RESOLVER="+dns.Addr(), "BERTH_PUBLIC_IPS=127.0.0.1")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>corner</title><h1>corner shop</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "A tiny site", true)
	var p struct{ ID, Slug string }
	if st := b.api("POST", "/v1/projects", map[string]any{"name": "corner", "git_url": dir}, &p); st != http.StatusCreated {
		t.Fatalf("create project: %d", st)
	}
	var d deployment
	if st := b.api("POST", "/v1/projects/"+p.ID+"/deployments", nil, &d); st != http.StatusAccepted {
		t.Fatalf("create deployment: %d", st)
	}
	if d = b.waitState(d.ID, 5*time.Minute, terminal); d.State != "ready" {
		t.Fatalf("deployment %s: %s", d.State, d.Error)
	}
	projectHost := p.Slug + ".localhost"
	waitBody(t, b, projectHost, "corner shop")

	doms := "/v1/projects/" + p.ID + "/domains"
	var www domainOut
	if st := b.api("POST", doms, map[string]string{"name": "www.example.test"}, &www); st != http.StatusCreated {
		t.Fatalf("add www.example.test: %d %+v", st, www)
	}
	if len(www.Records) == 0 || www.Records[0].Type != "CNAME" || www.Records[0].Value != projectHost {
		t.Fatalf("records of www.example.test: %+v", www.Records)
	}
	if res, body := b.getHost("www.example.test", "/"); res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not verified") {
		t.Errorf("before verification: %d %s", res.StatusCode, body)
	}
	var failed domainOut
	if st := b.api("POST", doms+"/www.example.test/verify", nil, &failed); st != http.StatusUnprocessableEntity ||
		!strings.Contains(failed.Error, "needs a CNAME record to "+projectHost) {
		t.Fatalf("verify without DNS: %d %q", st, failed.Error)
	}
	dns.SetCNAME("www.example.test", projectHost)
	if st := b.api("POST", doms+"/www.example.test/verify", nil, &www); st != http.StatusOK || !www.Verified {
		t.Fatalf("verify: %d %+v", st, www)
	}
	// Served at once (a plain GET: the fast path answers it).
	if res, body := b.getHost("www.example.test:80", "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "corner shop") {
		t.Fatalf("www.example.test after verification: %d %s", res.StatusCode, body)
	}

	// The apex: A record and TXT token, redirecting to www.
	var apex domainOut
	if st := b.api("POST", doms, map[string]string{"name": "example.test", "redirect": "www.example.test"}, &apex); st != http.StatusCreated {
		t.Fatalf("add example.test: %d", st)
	}
	token := ""
	for _, r := range apex.Records {
		switch {
		case r.Type == "A" && r.Value != "127.0.0.1":
			t.Errorf("apex A record %q, want BERTH_PUBLIC_IPS", r.Value)
		case r.Type == "TXT" && r.Name == "_berth-challenge.example.test":
			token = r.Value
		}
	}
	if token == "" {
		t.Fatalf("no TXT record among %+v", apex.Records)
	}
	dns.SetAddrs("example.test", "127.0.0.1")
	dns.SetTXT("_berth-challenge.example.test", token)
	if st := b.api("POST", doms+"/example.test/verify", nil, &apex); st != http.StatusOK || !apex.Verified {
		t.Fatalf("verify apex: %d %+v", st, apex)
	}
	noFollow := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, b.url("/menu?lang=fr"), nil)
	req.Host = "example.test:8443"
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusPermanentRedirect || loc != "http://www.example.test:8443/menu?lang=fr" {
		t.Errorf("apex: %d to %q, want 308 to www", res.StatusCode, loc)
	}

	// Removed: the name serves the site no more.
	if st := b.api("DELETE", doms+"/www.example.test", nil, nil); st != http.StatusNoContent {
		t.Fatalf("remove: %d", st)
	}
	if res, body := b.getHost("www.example.test", "/index.html"); res.StatusCode != http.StatusNotFound || strings.Contains(string(body), "corner shop") {
		t.Errorf("after removal: %d %s", res.StatusCode, body)
	}
}

// waitBody polls host until its page contains want.
func waitBody(t *testing.T, b *berthProc, host, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, body := b.getHost(host, "/")
		if res.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never served %q: %d %s", host, want, res.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
