package api

import "testing"

// TestLocalRedirectPath: a post-sign-in destination stays on this site,
// whatever encoding or character a browser would read as another host.
func TestLocalRedirectPath(t *testing.T) {
	for next, want := range map[string]string{
		"/":                       "/",
		"/api-keys":               "/api-keys",
		"/projects/abc?tab=env":   "/projects/abc?tab=env",
		"/deployments/x#log":      "/deployments/x#log",
		"/a%20b":                  "/a%20b",
		"":                        "/",
		"//evil.example":          "/",
		"/\\evil.example":         "/",
		"\\/evil.example":         "/",
		"/\t/evil.example":        "/",
		"/%09/evil.example":       "/",
		"/%2F/evil.example":       "/",
		"/%2f/evil.example":       "/",
		"/%5Cevil.example":        "/",
		"/%5cevil.example":        "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"/\n/evil.example":        "/",
		"/\r\n/evil.example":      "/",
		"/x\t/y":                  "/",
		"/%0a/evil.example":       "/",
		"/%00":                    "/",
		"/%zz":                    "/",
		"evil.example":            "/",
		"/sign-in":                "/",
		"/%73ign-in":              "/",
		"/\u00a0/evil.example":    "/",
		"/%E2%80%8B/evil.example": "/",
	} {
		if got := localRedirectPath(next); got != want {
			t.Errorf("localRedirectPath(%q) = %q, want %q", next, got, want)
		}
	}
}
