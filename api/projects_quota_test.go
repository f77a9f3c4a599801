package api_test

import (
	"net/http"
	"testing"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
)

// TestProjectQuota: a user with MaxProjects projects is refused another with
// 429 and a sentence; the admin is not limited.
func TestProjectQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *api.Config, c *deploys.Config) { c.MaxProjects = 2 })
	_, bob := h.newUser(t, "bob")
	h.createProject(t, bob, "one")
	h.createProject(t, bob, "two")
	res := h.api(t, "POST", "/v1/projects", bob, map[string]any{"name": "three", "git_url": "https://example.invalid/r.git"}, nil)
	wantError(t, res, http.StatusTooManyRequests, "limit_reached")
	for _, name := range []string{"a", "b", "c"} {
		h.createProject(t, adminToken, name)
	}
}
