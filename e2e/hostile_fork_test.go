package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForkPullRequestGetsNoSecrets: a project that builds pull requests from
// forks. The fork's code (here a build script that prints every variable it
// is given into the page) runs, but it is given none of the project's
// secrets: the production build of the same code shows the secret, the
// fork's preview does not.
func TestForkPullRequestGetsNoSecrets(t *testing.T) {
	requireEnv(t)
	gh := newFakeGitHub(t)
	b := startBerth(t, t.TempDir(),
		"BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_GITHUB_API_URL="+gh.apiURL(),
		"BERTH_GITHUB_URL="+gh.URL,
		"BERTH_GITHUB_TOKEN=ghp_instance_token",
	)
	// The fork's build: a package.json whose build script writes the
	// variable into the served page.
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "package.json"), []byte(`{"name":"leak","private":true,
		"scripts":{"build":"mkdir -p dist && echo \"secret=[$SHOP_SECRET]\" > dist/index.html"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sha := commitAll(t, repo, "Print what the build is given", true)

	var p struct {
		ID      string
		Slug    string
		Webhook struct{ Secret string }
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": "shop", "git_url": repo,
		"github_repo": "Codertocat/Hello-World", "production_branch": "main", "allow_fork_prs": true}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "SHOP_SECRET", "value": "hunter2-value", "target": "all"}, nil); code != http.StatusOK {
		t.Fatalf("set env: %d", code)
	}

	fork := example(t, "pull_request", func(m map[string]any) bool { return m["action"] == "opened" })
	head := fork["pull_request"].(map[string]any)["head"].(map[string]any)
	head["sha"], head["ref"] = sha, "main"
	head["repo"].(map[string]any)["full_name"] = "mallory/Hello-World"
	if code, body := b.webhook("pull_request", "d-fork-pr", fork, p.Webhook.Secret); code != http.StatusOK {
		t.Fatalf("fork pull request: %d %s", code, body)
	}
	var forkBuild deployment
	waitFor(t, time.Minute, func() bool {
		list := b.deployments(p.ID)
		if len(list) == 1 {
			forkBuild = list[0]
		}
		return len(list) == 1
	})
	forkBuild = b.waitState(forkBuild.ID, 10*time.Minute, terminal)
	var prod deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", map[string]any{"ref": "main"}, &prod); code != http.StatusAccepted {
		t.Fatalf("production deploy: %d", code)
	}
	prod = b.waitState(prod.ID, 10*time.Minute, terminal)
	if forkBuild.State != "ready" || prod.State != "ready" {
		t.Fatalf("builds: fork %+v, production %+v", forkBuild, prod)
	}
	_, page := b.getHost(prod.PreviewHost+".localhost", "/")
	if !strings.Contains(string(page), "secret=[hunter2-value]") {
		t.Fatalf("the production build did not get its variable (the test proves nothing): %q", page)
	}
	_, page = b.getHost(forkBuild.PreviewHost+".localhost", "/")
	if strings.Contains(string(page), "hunter2") || !strings.Contains(string(page), "secret=[]") {
		t.Errorf("the fork's build was given the project's secret: %q", page)
	}
}
