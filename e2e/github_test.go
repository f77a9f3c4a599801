package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// instanceSecret is the instance-wide webhook secret: it signs for no
// project that has a secret of its own.
const instanceSecret = "e2e-webhook-secret"

// example returns a real GitHub payload from @octokit/webhooks-examples: the
// first example of event for which match holds.
func example(t *testing.T, event string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixture(t, "@octokit/webhooks-examples"), "api.github.com", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	for _, e := range index {
		if e.Name != event {
			continue
		}
		for _, raw := range e.Examples {
			var m map[string]any
			json.Unmarshal(raw, &m)
			if match(m) {
				return m
			}
		}
	}
	t.Fatalf("no %s example matches", event)
	return nil
}

// webhook posts a delivery signed with secret and returns the status and body.
func (b *berthProc) webhook(event, delivery string, payload any, secret string) (int, string) {
	b.t.Helper()
	body, _ := json.Marshal(payload)
	req, _ := http.NewRequest(http.MethodPost, b.url("/webhooks/github"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// makeSiteRepo makes a plain HTML site: main has one commit; branch
// "feature" two more. It returns the repository and the feature commits.
func makeSiteRepo(t *testing.T) (dir, feature1, feature2 string) {
	t.Helper()
	dir = t.TempDir()
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("<h1>main</h1>")
	commitAll(t, dir, "Main page", true)
	gitCheckoutNew(t, dir, "feature")
	write("<h1>feature one</h1>")
	feature1 = commitAll(t, dir, "Feature one", false)
	write("<h1>feature two</h1>")
	feature2 = commitAll(t, dir, "Feature two", false)
	return dir, feature1, feature2
}

func (b *berthProc) deployments(projectID string) []deployment {
	var list []deployment
	b.api(http.MethodGet, "/v1/projects/"+projectID+"/deployments", nil, &list)
	return list
}

// TestGitHubWebhooks drives push and pull_request deliveries (real GitHub
// payloads, re-pointed at a local repository's commits) through the real
// binary, with a local server speaking GitHub's REST API for statuses and
// comments.
func TestGitHubWebhooks(t *testing.T) {
	requireEnv(t, "BERTH_TEST_FIXTURES")
	gh := newFakeGitHub(t)
	b := startBerth(t, t.TempDir(),
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_GITHUB_WEBHOOK_SECRET="+instanceSecret,
		"BERTH_GITHUB_API_URL="+gh.apiURL(),
		"BERTH_GITHUB_URL="+gh.URL,
		"BERTH_GITHUB_TOKEN=ghp_instance_token",
	)
	repo, feature1, feature2 := makeSiteRepo(t)
	var p struct {
		ID           string
		GitHubRepoID int64 `json:"github_repo_id"`
		Webhook      struct{ Secret, URL string }
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": "hello", "git_url": repo,
		"github_repo": "Codertocat/Hello-World", "production_branch": "main"}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	// Linking records the repository's id and makes the project's own
	// secret, shown this once.
	webhookSecret := p.Webhook.Secret
	if p.GitHubRepoID != 186853002 || len(webhookSecret) < 32 || !strings.HasSuffix(p.Webhook.URL, "/webhooks/github") {
		t.Fatalf("linked project: %+v", p)
	}
	push := example(t, "push", func(m map[string]any) bool { return m["ref"] == "refs/heads/master" && m["deleted"] == false })
	push["ref"], push["after"] = "refs/heads/feature", feature1

	// Signatures: anything but the right HMAC is refused with 401 and does nothing.
	if code, _ := b.webhook("push", "d-unsigned", push, ""); code != http.StatusUnauthorized {
		t.Errorf("unsigned delivery: %d, want 401", code)
	}
	if code, _ := b.webhook("push", "d-wrong", push, "not-the-secret"); code != http.StatusUnauthorized {
		t.Errorf("wrongly signed delivery: %d, want 401", code)
	}
	// The instance's secret signs only for projects without one of their own.
	if code, body := b.webhook("push", "d-instance", push, instanceSecret); code != http.StatusAccepted || !strings.Contains(body, `"deliveries":0`) {
		t.Errorf("delivery signed with the instance secret: %d %s, want 202 for no project", code, body)
	}
	if n := len(b.deployments(p.ID)); n != 0 {
		t.Fatalf("%d deployments after refused deliveries", n)
	}
	ping := example(t, "ping", func(map[string]any) bool { return true })
	ping["repository"].(map[string]any)["full_name"] = "Codertocat/Hello-World"
	if code, _ := b.webhook("ping", "d-ping", ping, webhookSecret); code != http.StatusOK {
		t.Errorf("ping: %d", code)
	}

	// A push to a branch deploys that exact commit; a redelivery does not.
	code, reply := b.webhook("push", "d-push-1", push, webhookSecret)
	if code != http.StatusOK || !strings.Contains(reply, `"deliveries":1`) || strings.Contains(reply, p.ID) {
		t.Fatalf("push: %d %s (want one delivery, no project named)", code, reply)
	}
	if code, body := b.webhook("push", "d-push-1", push, webhookSecret); code != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("redelivery: %d %s", code, body)
	}
	list := b.deployments(p.ID)
	if len(list) != 1 || list[0].CommitSHA != feature1 {
		t.Fatalf("deployments after push: %+v", list)
	}
	if strings.Contains(reply, list[0].ID) {
		t.Errorf("the webhook answer names the deployment: %s", reply)
	}
	d := b.waitState(list[0].ID, 10*time.Minute, terminal)
	if d.State != "ready" {
		t.Fatalf("push deployment: %+v", d)
	}
	// The notifier reports states after they are stored, on its own
	// goroutine: wait for the final one to arrive.
	waitFor(t, 2*time.Minute, func() bool { return len(gh.statuses("Codertocat/Hello-World", feature1)) >= 2 })
	statuses := gh.statuses("Codertocat/Hello-World", feature1)
	if len(statuses) != 2 || statuses[0]["state"] != "pending" || statuses[1]["state"] != "success" || statuses[1]["target_url"] != d.URL {
		t.Fatalf("statuses for %s: %v, want pending then success -> %s", feature1, statuses, d.URL)
	}
	// The status's target URL serves the pushed commit.
	res, body := b.getHost(strings.TrimSuffix(strings.TrimPrefix(d.URL, "http://"), "/"), "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "feature one") {
		t.Errorf("target URL: %d %s", res.StatusCode, body)
	}
	for _, auth := range gh.authHeaders() {
		if auth != "Bearer ghp_instance_token" {
			t.Errorf("GitHub call authenticated with %q", auth)
		}
	}

	// A deleted branch does nothing; a repository linked to no project is
	// signed by no project's secret.
	deleted := example(t, "push", func(m map[string]any) bool { return m["deleted"] == true })
	deleted["ref"] = "refs/heads/feature"
	deleted["repository"].(map[string]any)["full_name"] = "Codertocat/Hello-World"
	if code, body := b.webhook("push", "d-deleted", deleted, webhookSecret); code != http.StatusAccepted {
		t.Errorf("deleted branch: %d %s", code, body)
	}
	other := example(t, "push", func(m map[string]any) bool { return m["ref"] == "refs/heads/master" && m["deleted"] == false })
	other["repository"].(map[string]any)["full_name"] = "someone/else"
	if code, body := b.webhook("push", "d-unknown", other, webhookSecret); code != http.StatusUnauthorized {
		t.Errorf("unknown repository: %d %s, want 401", code, body)
	}
	// A push that names the repository but comes from another repository id
	// (deleted and made again under the same name) is rejected.
	otherID := example(t, "push", func(m map[string]any) bool { return m["ref"] == "refs/heads/master" && m["deleted"] == false })
	otherID["ref"], otherID["after"] = "refs/heads/feature", feature2
	otherID["repository"].(map[string]any)["id"] = 777
	if code, body := b.webhook("push", "d-other-id", otherID, webhookSecret); code != http.StatusAccepted {
		t.Errorf("another repository id: %d %s", code, body)
	}
	if n := len(b.deployments(p.ID)); n != 1 {
		t.Errorf("%d deployments after ignored deliveries, want 1", n)
	}

	// Pull requests: a preview per head commit, one comment edited in place,
	// previews retired on close.
	opened := example(t, "pull_request", func(m map[string]any) bool { return m["action"] == "opened" })
	pr := opened["pull_request"].(map[string]any)
	number := int(opened["number"].(float64))
	head := pr["head"].(map[string]any)
	head["sha"], head["ref"] = feature1, "feature"
	if code, body := b.webhook("pull_request", "d-pr-open", opened, webhookSecret); code != http.StatusOK {
		t.Fatalf("pull_request opened: %d %s", code, body)
	}
	opened["action"] = "synchronize"
	head["sha"] = feature2
	if code, body := b.webhook("pull_request", "d-pr-sync", opened, webhookSecret); code != http.StatusOK {
		t.Fatalf("pull_request synchronize: %d %s", code, body)
	}
	list = b.deployments(p.ID)
	if len(list) != 3 || list[0].CommitSHA != feature2 || list[1].CommitSHA != feature1 {
		t.Fatalf("deployments after pull request: %+v", list)
	}
	prDeps := []deployment{b.waitState(list[0].ID, 10*time.Minute, terminal), b.waitState(list[1].ID, 10*time.Minute, terminal)}
	for _, d := range prDeps {
		if d.State != "ready" {
			t.Fatalf("pull request deployment: %+v", d)
		}
	}
	waitFor(t, 2*time.Minute, func() bool { return len(gh.comments()) >= 3 }) // created, then edited per state
	comments := gh.comments()
	if comments[0].Method != http.MethodPost || !strings.HasSuffix(comments[0].Path, "/issues/"+itoa(number)+"/comments") {
		t.Fatalf("first comment call: %+v", comments[0])
	}
	for _, c := range comments[1:] {
		if c.Method != http.MethodPatch || c.Path != "/repos/Codertocat/Hello-World/issues/comments/"+itoa(int(gh.firstCommentID())) {
			t.Errorf("later comment call %s %s: want an edit of the first comment", c.Method, c.Path)
		}
	}
	if last := comments[len(comments)-1].Body["body"].(string); !strings.Contains(last, prDeps[0].URL) && !strings.Contains(last, prDeps[1].URL) {
		t.Errorf("comment does not show a preview URL: %s", last)
	}

	opened["action"] = "closed"
	if code, body := b.webhook("pull_request", "d-pr-close", opened, webhookSecret); code != http.StatusOK {
		t.Fatalf("pull_request closed: %d %s", code, body)
	}
	for _, d := range prDeps {
		if res, _ := b.getHost(d.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusGone {
			t.Errorf("closed PR preview %s: %d, want 410", d.PreviewHost, res.StatusCode)
		}
	}

	// A pull request from a fork is not built unless the project allows it.
	fork := example(t, "pull_request", func(m map[string]any) bool { return m["action"] == "opened" })
	forkPR := fork["pull_request"].(map[string]any)
	forkHead := forkPR["head"].(map[string]any)
	forkHead["sha"], forkHead["ref"] = feature2, "feature"
	forkHead["repo"].(map[string]any)["full_name"] = "mallory/Hello-World"
	if code, body := b.webhook("pull_request", "d-fork", fork, webhookSecret); code != http.StatusAccepted {
		t.Errorf("fork pull request: %d %s", code, body)
	}

	// An oversized delivery is refused before it is read whole.
	huge := map[string]any{"ref": "refs/heads/main", "padding": strings.Repeat("x", 6<<20)}
	if code, _ := b.webhook("push", "d-huge", huge, webhookSecret); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized delivery: %d, want 413", code)
	}

	// A push to the production branch becomes the production deployment.
	main := example(t, "push", func(m map[string]any) bool { return m["ref"] == "refs/heads/master" && m["deleted"] == false })
	main["ref"], main["after"] = "refs/heads/main", mainSHA(t, repo)
	if code, body := b.webhook("push", "d-push-main", main, webhookSecret); code != http.StatusOK {
		t.Fatalf("push to main: %d %s", code, body)
	}
	prod := b.waitState(b.deployments(p.ID)[0].ID, 10*time.Minute, terminal)
	if prod.State != "ready" {
		t.Fatalf("production deployment: %+v", prod)
	}
	if res, body := b.getHost("hello.localhost", "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "<h1>main</h1>") {
		t.Errorf("project host after a production push: %d %s", res.StatusCode, body)
	}

	// The delivery log says what happened to each delivery.
	var log []struct {
		DeliveryID string `json:"delivery_id"`
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
	}
	b.api(http.MethodGet, "/v1/projects/"+p.ID+"/webhook-deliveries", nil, &log)
	outcomes := map[string]string{}
	for _, l := range log {
		outcomes[l.DeliveryID] = l.Outcome + ": " + l.Reason
	}
	for id, want := range map[string]string{"d-push-1": "deployed", "d-deleted": "ignored: branch feature was deleted",
		"d-pr-open": "deployed", "d-pr-close": "retired: 2 previews stopped", "d-fork": "ignored: pull requests from forks",
		"d-push-main": "deployed", "d-other-id": "rejected: the delivery comes from repository id 777"} {
		if !strings.HasPrefix(outcomes[id], want) {
			t.Errorf("delivery %s: %q, want %q", id, outcomes[id], want)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("condition not met within %s", d)
}

// mainSHA returns the commit main points at in repo.
func mainSHA(t *testing.T, dir string) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash().String()
}
