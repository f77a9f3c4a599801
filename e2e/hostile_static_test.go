package e2e

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openFDs counts the file descriptors the berth process holds.
func openFDs(t *testing.T, b *berthProc) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestHostileStatic: A deploys a hand-written HTML site; a stranger (any
// visitor: no account is needed to attack a public site) cannot read its
// dotfiles, its dated photo is not pinned in caches for a year, and 50
// connections that ask for a large file and never read do not hold
// berth's connections and files: they are cut off and others are served.
func TestHostileStatic(t *testing.T) {
	requireEnv(t)
	tn := &tenants{b: startBerth(t, t.TempDir(), "BERTH_MAX_CONNS=50", "BERTH_WRITE_TIMEOUT=2s"), A: adminToken}
	dir := t.TempDir()
	big := make([]byte, 16<<20)
	rand.Read(big)
	for name, data := range map[string][]byte{
		"index.html":         []byte("<!doctype html><title>plain</title><h1>plain site</h1>"),
		".env.staging":       []byte("STRIPE_KEY=sk_live_do_not_leak\n"),
		"photo-20240101.jpg": append([]byte("\xff\xd8\xff\xe0"), make([]byte, 1024)...),
		"big.bin":            big,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, "A plain HTML site", true)

	var p struct {
		ID string `json:"id"`
	}
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "plain", "git_url": dir}, &p); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}
	var d deployment
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects/"+p.ID+"/deployments", nil, &d); st != http.StatusAccepted {
		t.Fatalf("A's deployment: %d %s", st, body)
	}
	d = tn.b.waitState(d.ID, 5*time.Minute, terminal)
	if d.State != "ready" {
		t.Fatalf("deployment %s: %s", d.State, d.Error)
	}
	host := d.PreviewHost + ".localhost"

	// A stranger asks for the dotfile: 404, and not a byte of it.
	if res, body := tn.b.getHost(host, "/.env.staging"); res.StatusCode != http.StatusNotFound || strings.Contains(string(body), "sk_live") {
		t.Errorf(".env.staging: %d %q, want 404", res.StatusCode, body)
	}
	if res, _ := tn.b.getHost(host, "/photo-20240101.jpg"); res.StatusCode != http.StatusOK ||
		strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("photo-20240101.jpg: %d, Cache-Control %q, want 200 and not immutable", res.StatusCode, res.Header.Get("Cache-Control"))
	}

	// 50 connections (the cap) ask for the large file and never read.
	baseline := openFDs(t, tn.b)
	for range 50 {
		c, err := net.Dial("tcp", tn.b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprintf(c, "GET /big.bin HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	}
	// Another visitor is served: the stalled ones are cut off after the
	// write timeout and free their places.
	res, body := tn.b.getHost(host, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "plain site") {
		t.Fatalf("a visitor after the stalled clients: %d %q", res.StatusCode, body)
	}
	// And berth lets go of their sockets and files.
	deadline := time.Now().Add(90 * time.Second)
	for {
		n := openFDs(t, tn.b)
		if n <= baseline+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth still holds %d file descriptors (%d before the stalled clients) 90s on", n, baseline)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// A's site is unchanged.
	if res, body := tn.b.getHost(host, "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "plain site") {
		t.Errorf("A's site afterwards: %d %q", res.StatusCode, body)
	}
}
