package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheck(t *testing.T) {
	refused := map[string]string{
		"127.0.0.1":              "loopback",
		"127.10.0.1":             "loopback",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "loopback",
		"0.0.0.0":                "unspecified",
		"::":                     "unspecified",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"::ffff:192.168.1.1":     "private",
		"fc00::1":                "private",
		"fd12:3456::1":           "private",
		"100.64.0.1":             "shared (carrier-grade NAT)",
		"100.127.255.254":        "shared (carrier-grade NAT)",
		"169.254.169.254":        "link-local",
		"::ffff:169.254.169.254": "link-local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"224.0.0.1":              "multicast",
		"ff02::1":                "multicast",
		"255.255.255.255":        "reserved",
		"64:ff9b::a9fe:a9fe":     "link-local", // NAT64 of 169.254.169.254
		"2002:7f00:1::1":         "loopback",   // 6to4 of 127.0.0.1
		"::7f00:1":               "reserved",   // IPv4-compatible
		"198.18.0.1":             "reserved",
		"fd00:ec2::254":          "private",
		"::ffff:10.0.0.1":        "private",
		"0.1.2.3":                "unspecified",
		"64:ff9b::a00:1":         "private",
		"2002:c0a8:101::1":       "private",
		"fec0::1":                "private",
		"239.255.255.250":        "multicast",
		"100::1":                 "reserved",
		"192.0.0.170":            "reserved",
		"240.0.0.1":              "reserved",
		"::ffff:0.0.0.0":         "unspecified",
		"::ffff:100.64.0.1":      "shared (carrier-grade NAT)",
		"64:ff9b::7f00:1":        "loopback",
		"2002:a9fe:a9fe::":       "link-local",
		"::ffff:224.0.0.1":       "multicast",
		"::ffff:172.16.5.4":      "private",
		"fe80::1:2:3:4":          "link-local",
		"febf:ffff::1":           "link-local",
		"fdff:ffff:ffff:ffff::1": "private",
		"ff0e::1":                "multicast",
		"100.100.100.200":        "shared (carrier-grade NAT)",
		"169.254.0.1":            "link-local",
		"127.255.255.255":        "loopback",
		"::ffff:127.1.2.3":       "loopback",
		"10.255.255.255":         "private",
		"192.168.255.255":        "private",
		"172.20.0.1":             "private",
		"2002:ac10:1::":          "private",
		"64:ff9b::c0a8:1":        "private",
		"fe80::ffff:169.254.1.1": "link-local",
		"fc00::ffff:127.0.0.1":   "private",
		"ff00::":                 "multicast",
		"::ffff:255.255.255.255": "reserved",
		"224.0.0.0":              "multicast",
		"0.0.0.1":                "unspecified",
		"::2":                    "reserved",
		"::ffff:10.10.10.10":     "private",
	}
	for s, kind := range refused {
		ip := netip.MustParseAddr(s)
		err := Check(ip)
		var re *RefusedError
		if !errors.As(err, &re) || re.Kind != kind {
			t.Errorf("Check(%s) = %v, want a refusal as %s", s, err, kind)
		}
	}
	for _, s := range []string{"140.82.112.3", "8.8.8.8", "2606:4700::1111", "::ffff:140.82.112.3", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2a00:1450::1", "64:ff9b::808:808"} {
		if err := Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want nil (public)", s, err)
		}
	}
}

func TestRefusedErrorSentence(t *testing.T) {
	err := Check(netip.MustParseAddr("127.0.0.1"))
	if err == nil || err.Error() != "127.0.0.1 is a loopback address" {
		t.Fatalf("%v", err)
	}
	if err := Check(netip.MustParseAddr("169.254.169.254")); err.Error() != "169.254.169.254 is a link-local address" {
		t.Fatalf("%v", err)
	}
	if err := Check(netip.MustParseAddr("fc00::1")); err.Error() != "fc00::1 is a private address" {
		t.Fatalf("%v", err)
	}
}

func TestPolicyAllow(t *testing.T) {
	nets, err := ParseNets(" 127.0.0.1/32, 10.0.0.0/8 ,::ffff:192.168.5.0/120, fd00::1")
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Allow: nets}
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.9.8.7", "192.168.5.9", "fd00::1", "8.8.8.8"} {
		if err := p.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("allowed %s: %v", s, err)
		}
	}
	for _, s := range []string{"127.0.0.2", "::1", "192.168.6.1", "fd00::2", "169.254.169.254"} {
		if err := p.Check(netip.MustParseAddr(s)); err == nil {
			t.Errorf("%s allowed, want refused", s)
		}
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "1.2.3.4/x"} {
		if _, err := ParseNets(bad); err == nil {
			t.Errorf("ParseNets(%q) accepted", bad)
		}
	}
	if n, err := ParseNets(""); err != nil || len(n) != 0 {
		t.Errorf("ParseNets(\"\") = %v, %v", n, err)
	}
}

// TestDialerRefusesBeforeConnecting: the dialer refuses a loopback server
// by its resolved address (also when reached by the name localhost), and the
// server sees no connection; with the range allowed, the same dial works.
func TestDialerRefusesBeforeConnecting(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "localhost"} {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		conn, err := Dialer(Policy{}).DialContext(context.Background(), "tcp", addr)
		var re *RefusedError
		if err == nil {
			conn.Close()
			t.Fatalf("dial %s: connected, want a refusal", addr)
		}
		if !errors.As(err, &re) || re.Kind != "loopback" {
			t.Fatalf("dial %s: %v, want a loopback refusal", addr, err)
		}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: Dialer(Policy{}).DialContext}}
	if _, err := client.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "loopback address") {
		t.Fatalf("GET through the guarded dialer: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the server saw %d requests", hits.Load())
	}

	allow, _ := ParseNets("127.0.0.1/32")
	conn, err := Dialer(Policy{Allow: allow}).DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial an allowed range: %v", err)
	}
	conn.Close()

	// The context's policy, for ContextDialer.
	d := ContextDialer()
	if c, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); err == nil {
		c.Close()
		t.Fatal("ContextDialer without a policy connected to loopback")
	}
	c, err := d.DialContext(WithPolicy(context.Background(), Policy{Allow: allow}), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("ContextDialer with an allowing policy: %v", err)
	}
	c.Close()
}
