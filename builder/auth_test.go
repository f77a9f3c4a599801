package builder

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// TestCloneWithToken clones over smart HTTP from `git http-backend` behind
// basic auth, as GitHub serves private repositories: with the token the
// clone works; without it the error says credentials are missing, and the
// token appears in no error text.
func TestCloneWithToken(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed for this test (scripts/test installs it)")
	}
	repo, _, second, _ := testRepo(t)
	root := t.TempDir()
	bare := filepath.Join(root, "owner", "private.git")
	if out, err := exec.Command(gitBin, "clone", "--bare", "-q", repo, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v: %s", err, out)
	}
	const token = "ghs_secret_token_value"
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "x-access-token" || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/owner/private.git"
	loopback := allowNets(t, "127.0.0.1/32")

	c, err := fetchSource(context.Background(), Source{URL: url, Ref: "main", Net: loopback,
		Auth: &githttp.BasicAuth{Username: "x-access-token", Password: token}}, filepath.Join(t.TempDir(), "src"))
	if err != nil || c.SHA != second {
		t.Fatalf("clone with token: %+v %v", c, err)
	}
	_, err = fetchSource(context.Background(), Source{URL: url, Ref: "main", Net: loopback}, filepath.Join(t.TempDir(), "src"))
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("clone without token: %v, want a credentials error", err)
	}
	_, err = fetchSource(context.Background(), Source{URL: url, Ref: "main", Net: loopback,
		Auth: &githttp.BasicAuth{Username: "x-access-token", Password: "wrong-" + token}}, filepath.Join(t.TempDir(), "src"))
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("clone with a wrong token: %v (must fail without echoing the token)", err)
	}
}
