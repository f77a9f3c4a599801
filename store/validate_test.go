package store

import "testing"

// TestValidateGitURL: https for everyone; paths, file:// and http:// only
// for a trusted caller; other schemes and credentials for nobody.
func TestValidateGitURL(t *testing.T) {
	tests := []struct {
		url              string
		trusted, anybody bool
	}{
		{"https://github.com/acme/app.git", true, true},
		{"http://git.example.com/app.git", true, false},
		{"/srv/repo", true, false},
		{"/etc", true, false},
		{"file:///etc", true, false},
		{"ssh://git@example.com/app.git", false, false},
		{"git://example.com/app.git", false, false},
		{"git@example.com:app.git", false, false},
		{"https://user:pass@example.com/app.git", false, false},
		{"relative/path", false, false},
		{"https:///nohost", false, false},
		{"/srv/re\x00po", false, false},
	}
	for _, tt := range tests {
		if err := ValidateGitURL(tt.url, true); (err == nil) != tt.trusted {
			t.Errorf("trusted %q: %v, want ok=%v", tt.url, err, tt.trusted)
		}
		err := ValidateGitURL(tt.url, false)
		if (err == nil) != tt.anybody {
			t.Errorf("untrusted %q: %v, want ok=%v", tt.url, err, tt.anybody)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("%q: code %s, want invalid", tt.url, ErrorCode(err))
		}
	}
}
