package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileWebhooks: B cannot link A's private repository (the fake
// GitHub lets only A's token see it), and B, knowing only its own
// project's webhook secret, cannot make anything deploy in A's project.
func TestHostileWebhooks(t *testing.T) {
	tn := newTenants(t, "BERTH_GITHUB_TOKEN=ghp_instance_token")
	// A is the admin: berth's token is A's. B signed in as mallory, whose
	// GitHub token is gho_usertoken.
	tn.gh.addRepo("acme/private-shop", 5150, "ghp_instance_token")
	tn.gh.addRepo("mallory/tools", 4242, "gho_usertoken")

	type linked struct {
		ID           string `json:"id"`
		GitHubRepo   string `json:"github_repo"`
		GitHubRepoID int64  `json:"github_repo_id"`
		Webhook      *struct{ Secret string }
	}
	// B cannot link A's repository, neither on creation nor by changing
	// its own project.
	st, body := tn.b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "steal", "github_repo": "acme/private-shop"}, nil)
	if st != http.StatusForbidden || !strings.Contains(body, "Your GitHub account cannot see acme/private-shop.") {
		t.Errorf("B links A's repository: %d %s, want 403", st, body)
	}
	var a linked
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "shop", "github_repo": "acme/private-shop"}, &a); st != http.StatusCreated || a.Webhook == nil {
		t.Fatalf("A links its repository: %d %s", st, body)
	}
	var b linked
	if st, body := tn.b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "tools", "github_repo": "mallory/tools"}, &b); st != http.StatusCreated || b.Webhook == nil {
		t.Fatalf("B links its own repository: %d %s", st, body)
	}
	if st, body := tn.b.as(tn.B, "PATCH", "/v1/projects/"+b.ID, map[string]any{"github_repo": "acme/private-shop"}, nil); st != http.StatusForbidden {
		t.Errorf("B re-links its project to A's repository: %d %s, want 403", st, body)
	}
	var mine []linked
	tn.b.as(tn.B, "GET", "/v1/projects", nil, &mine)
	if len(mine) != 1 || mine[0].GitHubRepo != "mallory/tools" || mine[0].GitHubRepoID != 4242 {
		t.Errorf("B's projects: %+v, want only tools linked to mallory/tools", mine)
	}

	// B forges a push of A's repository, signed with the only secret B
	// knows: refused, and nothing happens in A's project.
	push := map[string]any{"ref": "refs/heads/main", "after": strings.Repeat("ab", 20),
		"head_commit": map[string]any{"message": "Old commit, back to production"},
		"repository":  map[string]any{"id": 5150, "full_name": "acme/private-shop"}}
	if code, body := tn.b.webhook("push", "forged-1", push, b.Webhook.Secret); code != http.StatusUnauthorized {
		t.Errorf("B's forged push: %d %s, want 401", code, body)
	}
	// Nor does naming B's own repository with A's repository id help: it
	// reaches only B's project, which rejects the id.
	push["repository"] = map[string]any{"id": 5150, "full_name": "mallory/tools"}
	code, reply := tn.b.webhook("push", "forged-2", push, b.Webhook.Secret)
	if code != http.StatusAccepted || strings.Contains(reply, a.ID) {
		t.Errorf("B's push to its own project with A's repository id: %d %s", code, reply)
	}
	var deps, log []map[string]any
	tn.b.as(tn.A, "GET", "/v1/projects/"+a.ID+"/deployments", nil, &deps)
	tn.b.as(tn.A, "GET", "/v1/projects/"+a.ID+"/webhook-deliveries", nil, &log)
	if len(deps) != 0 || len(log) != 0 {
		t.Fatalf("A's project after B's forgeries: deployments %v, deliveries %v", deps, log)
	}

	// The same push signed with A's secret deploys: the refusals above were
	// the signature's doing.
	push["repository"] = map[string]any{"id": 5150, "full_name": "acme/private-shop"}
	if code, body := tn.b.webhook("push", "genuine", push, a.Webhook.Secret); code != http.StatusOK {
		t.Fatalf("A's genuine push: %d %s", code, body)
	}
	tn.b.as(tn.A, "GET", "/v1/projects/"+a.ID+"/deployments", nil, &deps)
	if len(deps) != 1 || deps[0]["commit_sha"] != push["after"] {
		t.Errorf("A's deployments after its own push: %v", deps)
	}
}
