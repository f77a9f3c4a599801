package serving

import "testing"

// TestMatchAppDomain: deployment hosts are the apps domain and the names
// under it; the dashboard's host and other hosts are not. The bare apps
// domain is the dashboard's only on a laptop (ApexIsDashboard).
func TestMatchAppDomain(t *testing.T) {
	apart := &Handler{cfg: Config{AppDomain: "example-apps.com"}, domain: "example-apps.com"}
	laptop := &Handler{cfg: Config{AppDomain: "localhost", ApexIsDashboard: true}, domain: "localhost"}
	for _, tt := range []struct {
		h    *Handler
		host string
		want bool
	}{
		{apart, "shop.example-apps.com", true},
		{apart, "0badc0de-preview.Example-Apps.com:8443", true},
		{apart, "a.b.example-apps.com", true},
		{apart, "example-apps.com", true}, // a 404 page, never the dashboard
		{apart, "berth.example.com", false},
		{apart, "127.0.0.1:8080", false},
		{apart, "evilexample-apps.com", false},
		{laptop, "shop.localhost:8080", true},
		{laptop, "localhost:8080", false},
		{laptop, "127.0.0.1", false},
	} {
		if got := tt.h.Match(tt.host); got != tt.want {
			t.Errorf("apps domain %s: Match(%q) = %v, want %v", tt.h.domain, tt.host, got, tt.want)
		}
	}
}
