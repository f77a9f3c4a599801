package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub speaks GitHub's REST and OAuth wire format for the endpoints
// berth calls, and records what berth sent.
type fakeGitHub struct {
	*httptest.Server
	mu        sync.Mutex
	calls     []ghCall
	nextID    int64
	orgs      []string
	tokenSeen []string
	ids       []int64 // the id answered to each recorded call
	login     string  // who signs in (default octocat)
	userID    int64
	repos     map[string]fakeRepo // by full name: what GET /repos/{owner}/{repo} knows
}

// fakeRepo is a repository of the fake GitHub. Like GitHub, it answers 404
// to a token that cannot see it.
type fakeRepo struct {
	ID            int64
	DefaultBranch string
	Tokens        []string // the tokens that can see it; none: every token (a public repository)
}

// addRepo makes a repository that only tokens can see (everyone when none).
func (f *fakeGitHub) addRepo(fullName string, id int64, tokens ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repos[fullName] = fakeRepo{ID: id, DefaultBranch: "main", Tokens: tokens}
}

type ghCall struct {
	Method, Path string
	Body         map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{nextID: 1000, orgs: []string{"acme"}, login: "octocat", userID: 583231, repos: map[string]fakeRepo{
		"octocat/Hello-World":    {ID: 1296269, DefaultBranch: "trunk"},
		"Codertocat/Hello-World": {ID: 186853002, DefaultBranch: "trunk"}, // the repository of @octokit/webhooks-examples
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("code") != "good-code" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"error":"bad_verification_code"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"gho_usertoken","token_type":"bearer","scope":"repo,read:org"}`)
	})
	mux.HandleFunc("GET /api/v3/user", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, map[string]any{"login": f.login, "id": f.userID, "name": "The " + f.login})
	})
	mux.HandleFunc("GET /api/v3/user/orgs", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, o := range f.orgs {
			out = append(out, map[string]any{"login": o})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /api/v3/user/repos", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []map[string]any{{"full_name": "octocat/Hello-World", "private": true, "default_branch": "trunk", "html_url": "https://github.example/octocat/Hello-World"}})
	})
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("owner") + "/" + r.PathValue("repo")
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		repo, ok := f.repos[name]
		f.mu.Unlock()
		if !ok || len(repo.Tokens) > 0 && !slices.Contains(repo.Tokens, token) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/repos#get-a-repository"}`)
			return
		}
		writeJSON(w, map[string]any{"id": repo.ID, "full_name": name, "default_branch": repo.DefaultBranch,
			"permissions": map[string]bool{"admin": len(repo.Tokens) > 0, "push": len(repo.Tokens) > 0, "pull": true}})
	})
	record := func(w http.ResponseWriter, r *http.Request) map[string]any {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.calls = append(f.calls, ghCall{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v3"), Body: body})
		f.tokenSeen = append(f.tokenSeen, r.Header.Get("Authorization"))
		f.nextID++
		id := f.nextID
		f.ids = append(f.ids, id)
		f.mu.Unlock()
		return map[string]any{"id": id, "body": body["body"], "state": body["state"]}
	}
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/statuses/{sha}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		writeJSON(w, record(w, r))
	})
	mux.HandleFunc("POST /api/v3/repos/{owner}/{repo}/issues/{number}/comments", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		writeJSON(w, record(w, r))
	})
	mux.HandleFunc("PATCH /api/v3/repos/{owner}/{repo}/issues/comments/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, record(w, r))
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) apiURL() string { return f.URL + "/api/v3/" }

func (f *fakeGitHub) recorded() []ghCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ghCall(nil), f.calls...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// statuses returns the bodies of status calls for one commit, in order.
func (f *fakeGitHub) statuses(repo, sha string) []map[string]any {
	var out []map[string]any
	for _, c := range f.recorded() {
		if c.Path == "/repos/"+repo+"/statuses/"+sha {
			out = append(out, c.Body)
		}
	}
	return out
}

// comments returns the comment calls (create and edit), in order.
func (f *fakeGitHub) comments() []ghCall {
	var out []ghCall
	for _, c := range f.recorded() {
		if strings.Contains(c.Path, "/issues/") {
			out = append(out, c)
		}
	}
	return out
}

// firstCommentID is the id the fake gave the first comment it created.
func (f *fakeGitHub) firstCommentID() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/comments") {
			return f.ids[i]
		}
	}
	return 0
}

func (f *fakeGitHub) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokenSeen...)
}
