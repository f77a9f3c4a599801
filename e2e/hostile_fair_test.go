package e2e

import (
	"net/http"
	"testing"
)

// TestHostileSlugsAndQuotas: B cannot take a host that passes for the
// service (www, api, admin), nor the address of A's project A just deleted,
// and cannot create projects without end.
func TestHostileSlugsAndQuotas(t *testing.T) {
	tn := newTenants(t, "BERTH_MAX_PROJECTS=4")
	type project struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	create := func(token, name string) (int, project) {
		t.Helper()
		var p project
		st, _ := tn.b.as(token, "POST", "/v1/projects", map[string]any{"name": name, "git_url": "https://example.invalid/" + name + ".git"}, &p)
		return st, p
	}
	for _, name := range []string{"www", "api", "admin"} {
		if st, p := create(tn.B, name); st != http.StatusCreated || p.Slug == name {
			t.Errorf("B's project %q: %d, slug %q (want created under another slug)", name, st, p.Slug)
		}
	}
	st, shop := create(tn.A, "shop")
	if st != http.StatusCreated || shop.Slug != "shop" {
		t.Fatalf("A's shop: %d %+v", st, shop)
	}
	if st, _ := tn.b.as(tn.A, "DELETE", "/v1/projects/"+shop.ID, nil, nil); st != http.StatusNoContent {
		t.Fatalf("A deletes the shop: %d", st)
	}
	if st, p := create(tn.B, "shop"); st != http.StatusCreated || p.Slug == "shop" {
		t.Errorf("B took the address of A's deleted project: %d %q", st, p.Slug)
	}
	if st, body := tn.b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "fifth", "git_url": "https://example.invalid/x.git"}, nil); st != http.StatusTooManyRequests {
		t.Errorf("B's fifth project: %d %s, want 429", st, body)
	}
	if st, p := create(tn.A, "shop"); st != http.StatusCreated || p.Slug != "shop" {
		t.Errorf("A could not have the shop's address back: %d %q", st, p.Slug)
	}
}
