package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

const (
	instanceWebhookSecret = "instance-webhook-secret"
	instanceGitHubToken   = "ghp_instance"
)

// ghRepo is a repository the fake GitHub knows: its id, and the tokens that
// can see it (GitHub answers 404 to the others).
type ghRepo struct {
	id     int64
	tokens []string
}

// newGitHubAPI serves GET /repos/{owner}/{repo} as GitHub does for the
// repositories given, and accepts (and drops) commit statuses.
func newGitHubAPI(t *testing.T, repos map[string]ghRepo) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("owner") + "/" + r.PathValue("repo")
		repo, ok := repos[name]
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		if !ok || !slices.Contains(repo.tokens, token) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": repo.id, "full_name": name, "default_branch": "trunk",
			"permissions": map[string]bool{"pull": true}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id": 1}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// withGitHub points berth at the fake GitHub, with an instance token and an
// instance webhook secret.
func withGitHub(apiURL string) harnessOption {
	return func(c *api.Config, d *deploys.Config) {
		c.GitHub = api.GitHubConfig{APIURL: apiURL, Token: instanceGitHubToken, WebhookSecret: instanceWebhookSecret}
		d.GitHubToken = instanceGitHubToken
	}
}

// gitHubUser makes a user who signed in with GitHub token.
func (h *harness) gitHubUser(t *testing.T, login, token string) (*store.User, string) {
	t.Helper()
	u, key := h.newUser(t, login)
	if token != "" {
		if err := h.DB.SetGitHubToken(t.Context(), u.ID, h.Box.Seal([]byte(token), model.GitHubTokenAAD(u.ID))); err != nil {
			t.Fatal(err)
		}
	}
	return u, key
}

type linkedProject struct {
	ID           string `json:"id"`
	GitHubRepo   string `json:"github_repo"`
	GitHubRepoID int64  `json:"github_repo_id"`
	Production   string `json:"production_branch"`
	SecretSet    bool   `json:"webhook_secret_set"`
	Webhook      *struct {
		Secret string `json:"secret"`
		URL    string `json:"url"`
	} `json:"webhook"`
}

func (h *harness) link(t *testing.T, token, name, repo string) linkedProject {
	t.Helper()
	var p linkedProject
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/projects", token, map[string]string{"name": name, "github_repo": repo}, &p)
	if p.Webhook == nil || len(p.Webhook.Secret) < 32 {
		t.Fatalf("linked project %s: no webhook secret in the answer: %+v", name, p)
	}
	return p
}

var pushSHA = strings.Repeat("a1", 20)

// pushTo is a push of pushSHA to branch main of repo (whose GitHub id is id).
func pushTo(repo string, id int64) []byte {
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": pushSHA,
		"head_commit": map[string]any{"message": "Ship it"},
		"repository":  map[string]any{"id": id, "full_name": repo}})
	return body
}

var deliveryN atomic.Int64

// deliver posts a push signed with secret ("" sends it unsigned).
func (h *harness) deliver(t *testing.T, secret string, body []byte) response {
	t.Helper()
	hdr := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": fmt.Sprintf("delivery-%d", deliveryN.Add(1))}
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		hdr["X-Hub-Signature-256"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	return h.do(t, request{method: "POST", path: "/webhooks/github", body: string(body), header: hdr})
}

func (h *harness) deploymentCount(t *testing.T, token, projectID string) int {
	t.Helper()
	var list []deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/projects/"+projectID+"/deployments", token, nil, &list)
	return len(list)
}

// TestLinkNeedsAccess: a repository is linked only when the user's own
// GitHub token can see it (an admin may use the instance's), and its
// GitHub id is recorded. Without access nothing is stored.
func TestLinkNeedsAccess(t *testing.T) {
	t.Parallel()
	gh := newGitHubAPI(t, map[string]ghRepo{
		"acme/private-shop": {id: 111, tokens: []string{"gho_alice", instanceGitHubToken}},
		"mallory/tools":     {id: 222, tokens: []string{"gho_mallory", instanceGitHubToken}},
	})
	h := newHarness(t, withGitHub(gh.URL))
	_, alice := h.gitHubUser(t, "alice", "gho_alice")
	mallory, malloryKey := h.gitHubUser(t, "mallory", "gho_mallory")
	_, carol := h.gitHubUser(t, "carol", "")

	// Mallory cannot link Alice's repository: the instance token sees it,
	// but it is not hers to use.
	wantError(t, h.api(t, "POST", "/v1/projects", malloryKey, map[string]string{"name": "steal", "github_repo": "acme/private-shop"}, nil),
		http.StatusForbidden, "forbidden")
	res := h.api(t, "POST", "/v1/projects", malloryKey, map[string]string{"name": "steal", "github_repo": "acme/private-shop"}, nil)
	if !strings.Contains(res.String(), "Your GitHub account cannot see acme/private-shop.") {
		t.Errorf("refusal: %s", res)
	}

	shop := h.link(t, alice, "shop", "acme/private-shop")
	if shop.GitHubRepoID != 111 || shop.Production != "trunk" || !shop.SecretSet || !strings.HasSuffix(shop.Webhook.URL, "/webhooks/github") {
		t.Errorf("alice's linked project: %+v", shop)
	}
	res = h.mustAPI(t, 200, "GET", "/v1/projects/"+shop.ID, alice, nil, nil)
	if strings.Contains(res.String(), shop.Webhook.Secret) || strings.Contains(res.String(), `"webhook"`) {
		t.Errorf("the webhook secret is shown again: %s", res)
	}

	tools := h.link(t, malloryKey, "tools", "mallory/tools")
	wantError(t, h.api(t, "PATCH", "/v1/projects/"+tools.ID, malloryKey, map[string]string{"github_repo": "acme/private-shop"}, nil),
		http.StatusForbidden, "forbidden")
	var after linkedProject
	h.mustAPI(t, 200, "GET", "/v1/projects/"+tools.ID, malloryKey, nil, &after)
	if after.GitHubRepo != "mallory/tools" || after.GitHubRepoID != 222 {
		t.Errorf("after a refused PATCH: %+v", after)
	}
	// The id cannot be set by hand.
	h.mustAPI(t, 200, "PATCH", "/v1/projects/"+tools.ID, malloryKey, map[string]any{"github_repo_id": 111, "name": "tools"}, &after)
	if after.GitHubRepoID != 222 {
		t.Errorf("github_repo_id taken from the request: %+v", after)
	}

	// The dashboard checks the same way.
	b := newBrowser(t, h)
	csrf := b.signInAs(mallory)
	page := b.post("/projects", url.Values{"_csrf": {csrf}, "name": {"steal"}, "github_repo": {"acme/private-shop"}})
	if page.status != http.StatusForbidden || !strings.Contains(page.body, "cannot see acme/private-shop") {
		t.Errorf("dashboard link without access: %d %.300s", page.status, page.body)
	}
	var mine []linkedProject
	h.mustAPI(t, 200, "GET", "/v1/projects", malloryKey, nil, &mine)
	if len(mine) != 1 || mine[0].ID != tools.ID {
		t.Errorf("mallory's projects after refused links: %+v", mine)
	}

	// Without a GitHub token of one's own, nothing can be linked.
	wantError(t, h.api(t, "POST", "/v1/projects", carol, map[string]string{"name": "x", "github_repo": "mallory/tools"}, nil),
		http.StatusBadRequest, "invalid")
	// Unless one is the admin, who may use the instance's token.
	if admin := h.link(t, adminToken, "ops", "acme/private-shop"); admin.GitHubRepoID != 111 {
		t.Errorf("admin's link: %+v", admin)
	}
	// A dot segment never reaches GitHub's API path.
	wantError(t, h.api(t, "POST", "/v1/projects", alice, map[string]string{"name": "x", "github_repo": "../user"}, nil),
		http.StatusBadRequest, "invalid")
}

// TestWebhookSecretPerProject: a delivery reaches only the projects whose
// own secret signed it and whose linked repository id it carries; the
// instance secret signs only for projects without a secret of their own.
func TestWebhookSecretPerProject(t *testing.T) {
	t.Parallel()
	gh := newGitHubAPI(t, map[string]ghRepo{"acme/shop": {id: 111, tokens: []string{"gho_alice", "gho_bob"}}})
	h := newHarness(t, withGitHub(gh.URL))
	alice, aliceKey := h.gitHubUser(t, "alice", "gho_alice")
	_, bobKey := h.gitHubUser(t, "bob", "gho_bob")
	pa := h.link(t, aliceKey, "shop-a", "acme/shop")
	pb := h.link(t, bobKey, "shop-b", "acme/shop")
	// A project linked before secrets existed: no secret, no id.
	legacy := &store.Project{OwnerID: alice.ID, Name: "legacy", GitHubRepo: "acme/shop"}
	if err := h.DB.CreateProject(t.Context(), legacy); err != nil {
		t.Fatal(err)
	}
	counts := func() [3]int {
		return [3]int{h.deploymentCount(t, aliceKey, pa.ID), h.deploymentCount(t, bobKey, pb.ID), h.deploymentCount(t, aliceKey, legacy.ID)}
	}
	push := pushTo("acme/shop", 111)

	// Unsigned or wrongly signed: 401, nothing happens.
	for name, secret := range map[string]string{"unsigned": "", "wrong secret": "guess"} {
		wantError(t, h.deliver(t, secret, push), http.StatusUnauthorized, "unauthorized")
		if c := counts(); c != [3]int{} {
			t.Fatalf("%s: deployments %v", name, c)
		}
	}

	// A's secret delivers to A only; the answer names no project or deployment.
	res := h.deliver(t, pa.Webhook.Secret, push)
	if res.status != http.StatusOK || !strings.Contains(res.String(), `"deliveries":1`) {
		t.Fatalf("A's delivery: %d %s", res.status, res)
	}
	if c := counts(); c != [3]int{1, 0, 0} {
		t.Fatalf("after A's delivery: deployments %v, want only A's", c)
	}
	var deps []deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/projects/"+pa.ID+"/deployments", aliceKey, nil, &deps)
	for _, id := range []string{pa.ID, pb.ID, legacy.ID, deps[0].ID} {
		if strings.Contains(res.String(), id) {
			t.Errorf("the webhook answer names %s: %s", id, res)
		}
	}
	// B's secret delivers to B only.
	h.deliver(t, pb.Webhook.Secret, push)
	if c := counts(); c != [3]int{1, 1, 0} {
		t.Fatalf("after B's delivery: deployments %v, want one more for B", c)
	}
	// The instance secret delivers to the project without a secret only.
	h.deliver(t, instanceWebhookSecret, push)
	if c := counts(); c != [3]int{1, 1, 1} {
		t.Fatalf("after the instance's delivery: deployments %v, want one more for the legacy project only", c)
	}

	// A delivery from another repository id (the name deleted and made
	// again by someone else) is rejected, and the log says why.
	res = h.deliver(t, pa.Webhook.Secret, pushTo("acme/shop", 999))
	if res.status != http.StatusAccepted {
		t.Errorf("repository id mismatch: %d %s", res.status, res)
	}
	if c := counts(); c != [3]int{1, 1, 1} {
		t.Fatalf("after a delivery from another repository id: deployments %v", c)
	}
	var log []store.Delivery
	h.mustAPI(t, 200, "GET", "/v1/projects/"+pa.ID+"/webhook-deliveries", aliceKey, nil, &log)
	if len(log) == 0 || log[0].Outcome != "rejected" || !strings.Contains(log[0].Reason, "repository id 999") {
		t.Errorf("delivery log after an id mismatch: %+v", log)
	}

	// Rotating shows the new secret once; the old one stops working.
	var rotated struct{ Secret, URL string }
	wantError(t, h.api(t, "POST", "/v1/projects/"+pa.ID+"/webhook-secret", bobKey, nil, nil), http.StatusNotFound, "not_found")
	h.mustAPI(t, 200, "POST", "/v1/projects/"+pa.ID+"/webhook-secret", aliceKey, nil, &rotated)
	if len(rotated.Secret) < 32 || rotated.Secret == pa.Webhook.Secret || rotated.URL != pa.Webhook.URL {
		t.Fatalf("rotated: %+v", rotated)
	}
	if got := h.mustAPI(t, 200, "GET", "/v1/projects/"+pa.ID, aliceKey, nil, nil); strings.Contains(got.String(), rotated.Secret) {
		t.Error("the rotated secret is shown again")
	}
	wantError(t, h.deliver(t, pa.Webhook.Secret, push), http.StatusUnauthorized, "unauthorized")
	if c := counts(); c != [3]int{1, 1, 1} {
		t.Fatalf("after a delivery with the old secret: deployments %v", c)
	}
	h.deliver(t, rotated.Secret, push)
	if c := counts(); c != [3]int{2, 1, 1} {
		t.Fatalf("after a delivery with the new secret: deployments %v", c)
	}
}

// TestDashboardWebhookSecret: the project page offers a new secret and
// shows it once.
func TestDashboardWebhookSecret(t *testing.T) {
	t.Parallel()
	gh := newGitHubAPI(t, map[string]ghRepo{"acme/shop": {id: 111, tokens: []string{"gho_alice"}}})
	h := newHarness(t, withGitHub(gh.URL))
	alice, aliceKey := h.gitHubUser(t, "alice", "gho_alice")
	b := newBrowser(t, h)
	csrf := b.signInAs(alice)
	created := b.post("/projects", url.Values{"_csrf": {csrf}, "name": {"shop"}, "github_repo": {"acme/shop"}})
	var list []linkedProject
	h.mustAPI(t, 200, "GET", "/v1/projects", aliceKey, nil, &list)
	if created.status != http.StatusCreated || len(list) != 1 || list[0].GitHubRepoID != 111 {
		t.Fatalf("dashboard link: %d, projects %+v", created.status, list)
	}
	first := secretOf(t, created.body)
	if strings.Contains(b.mustGet("/projects/"+list[0].ID).body, first) {
		t.Error("the webhook secret is shown again on the project page")
	}
	rotated := b.post("/projects/"+list[0].ID+"/webhook-secret", url.Values{"_csrf": {csrf}})
	second := secretOf(t, rotated.body)
	if rotated.status != http.StatusOK || second == first {
		t.Fatalf("rotate: %d, secret changed %v", rotated.status, second != first)
	}
	wantError(t, h.deliver(t, first, pushTo("acme/shop", 111)), http.StatusUnauthorized, "unauthorized")
	if res := h.deliver(t, second, pushTo("acme/shop", 111)); res.status != http.StatusOK {
		t.Errorf("delivery with the new secret: %d %s", res.status, res)
	}
}

func secretOf(t *testing.T, html string) string {
	t.Helper()
	_, rest, ok := strings.Cut(html, `id="webhook-secret"`)
	_, rest, ok2 := strings.Cut(rest, `value="`)
	secret, _, ok3 := strings.Cut(rest, `"`)
	if !ok || !ok2 || !ok3 || len(secret) < 32 {
		t.Fatalf("no webhook secret on the page: %.500s", html)
	}
	return secret
}
