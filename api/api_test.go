package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// scenario is one API call and what must come back.
type scenario struct {
	name   string
	req    request
	status int
	code   string   // for error answers: the JSON error code
	has    []string // substrings the body must contain
	hasNot []string // substrings the body must not contain
}

func run(t *testing.T, h *harness, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			res := h.do(t, sc.req)
			if sc.code != "" {
				wantError(t, res, sc.status, sc.code)
			} else if res.status != sc.status {
				t.Errorf("status %d, want %d: %s", res.status, sc.status, res.body)
			}
			for _, s := range sc.has {
				if !strings.Contains(string(res.body), s) {
					t.Errorf("body lacks %q: %s", s, res.body)
				}
			}
			for _, s := range sc.hasNot {
				if strings.Contains(string(res.body), s) {
					t.Errorf("body contains %q: %s", s, res.body)
				}
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var created struct {
		Key   struct{ ID, Name, Prefix string }
		Token string
	}
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/api-keys", adminToken, map[string]string{"name": "ci"}, &created)
	if !strings.HasPrefix(created.Token, "berth_") || created.Key.ID == "" {
		t.Fatalf("created key: %+v", created)
	}
	var revoked struct {
		Key   struct{ ID string }
		Token string
	}
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/api-keys", adminToken, map[string]string{"name": "old"}, &revoked)
	h.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/api-keys/"+revoked.Key.ID, adminToken, nil, nil)
	flipped := []byte(created.Token)
	flipped[len(flipped)-1] ^= 1

	run(t, h, []scenario{
		{name: "no header", req: request{method: "GET", path: "/v1/projects"}, status: 401, code: "unauthorized"},
		{name: "no header on a write", req: request{method: "POST", path: "/v1/projects", body: `{"name":"x"}`}, status: 401, code: "unauthorized"},
		{name: "wrong token", req: request{method: "GET", path: "/v1/projects", token: "nope"}, status: 401, code: "unauthorized"},
		{name: "admin token with a suffix", req: request{method: "GET", path: "/v1/projects", token: adminToken + "x"}, status: 401, code: "unauthorized"},
		{name: "basic auth", req: request{method: "GET", path: "/v1/projects", header: map[string]string{"Authorization": "Basic " + adminToken}}, status: 401, code: "unauthorized"},
		{name: "admin token", req: request{method: "GET", path: "/v1/projects", token: adminToken}, status: 200},
		{name: "api key", req: request{method: "GET", path: "/v1/projects", token: created.Token}, status: 200},
		{name: "api key with a flipped character", req: request{method: "GET", path: "/v1/projects", token: string(flipped)}, status: 401, code: "unauthorized"},
		{name: "revoked api key", req: request{method: "GET", path: "/v1/projects", token: revoked.Token}, status: 401, code: "unauthorized"},
		{name: "list keys never shows tokens", req: request{method: "GET", path: "/v1/api-keys", token: adminToken}, status: 200,
			has: []string{created.Key.ID, `"ci"`}, hasNot: []string{created.Token, revoked.Key.ID, "hash"}},
		{name: "key without a name", req: request{method: "POST", path: "/v1/api-keys", token: adminToken, body: `{"name":""}`}, status: 400, code: "invalid"},
		{name: "revoke twice", req: request{method: "DELETE", path: "/v1/api-keys/" + revoked.Key.ID, token: adminToken}, status: 404, code: "not_found"},
	})

	// The key acts as the admin user who created it.
	var mine []projectOut
	p := h.createProject(t, created.Token, "made-with-key")
	h.mustAPI(t, 200, "GET", "/v1/projects", adminToken, nil, &mine)
	if len(mine) != 1 || mine[0].ID != p.ID {
		t.Errorf("admin sees %+v, want the project made with its key", mine)
	}
}

func TestProjectsCRUD(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var p projectOut
	res := h.mustAPI(t, 201, "POST", "/v1/projects", adminToken,
		map[string]string{"name": "My App", "git_url": "https://github.com/acme/app.git", "build_command": "npm run build"}, &p)
	if p.ID == "" || p.Slug != "my-app" || p.ProductionBranch != "main" {
		t.Errorf("created: %s", res.body)
	}
	if want := "http://my-app.localhost:" + h.Port + "/"; p.URL != want {
		t.Errorf("url %q, want %q", p.URL, want)
	}
	var p2 projectOut
	h.mustAPI(t, 201, "POST", "/v1/projects", adminToken, map[string]string{"name": "my app", "git_url": "/srv/app"}, &p2)
	if p2.Slug != "my-app-2" {
		t.Errorf("second slug %q, want my-app-2", p2.Slug)
	}

	base := "/v1/projects/" + p.ID
	run(t, h, []scenario{
		{name: "get", req: request{method: "GET", path: base, token: adminToken}, status: 200,
			has: []string{`"slug":"my-app"`, `"build_command":"npm run build"`, `"url":"http://my-app.localhost:` + h.Port + `/"`}},
		{name: "list", req: request{method: "GET", path: "/v1/projects", token: adminToken}, status: 200,
			has: []string{p.ID, p2.ID}},
		{name: "empty name", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":"","git_url":"https://x.y/z"}`}, status: 400, code: "invalid"},
		{name: "ftp url", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":"a","git_url":"ftp://x"}`}, status: 400, code: "invalid", has: []string{"git_url"}},
		{name: "credentials in url", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":"a","git_url":"https://user:pw@host/x"}`}, status: 400, code: "invalid", hasNot: []string{"pw@"}},
		{name: "root dir escapes", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":"a","git_url":"https://x.y/z","root_dir":"../x"}`}, status: 400, code: "invalid", has: []string{"root_dir"}},
		{name: "bad branch", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":"a","git_url":"https://x.y/z","production_branch":"a..b"}`}, status: 400, code: "invalid"},
		{name: "invalid json", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":`}, status: 400, code: "invalid"},
		{name: "wrong json type", req: request{method: "POST", path: "/v1/projects", token: adminToken, body: `{"name":42}`}, status: 400, code: "invalid"},
		{name: "patch", req: request{method: "PATCH", path: base, token: adminToken, body: `{"name":"Renamed","production_branch":"release/1"}`}, status: 200,
			has: []string{`"name":"Renamed"`, `"production_branch":"release/1"`, `"slug":"my-app"`, `"build_command":"npm run build"`}},
		{name: "patch is stored", req: request{method: "GET", path: base, token: adminToken}, status: 200, has: []string{`"name":"Renamed"`}},
		{name: "patch start command", req: request{method: "PATCH", path: base, token: adminToken, body: `{"start_command":"node dist/main.js"}`}, status: 200,
			has: []string{`"start_command":"node dist/main.js"`, `"name":"Renamed"`}},
		{name: "start command is stored", req: request{method: "GET", path: base, token: adminToken}, status: 200, has: []string{`"start_command":"node dist/main.js"`}},
		{name: "patch dockerfile and port", req: request{method: "PATCH", path: base, token: adminToken, body: `{"dockerfile_path":"deploy/web.Dockerfile","port":8080}`}, status: 200,
			has: []string{`"dockerfile_path":"deploy/web.Dockerfile"`, `"port":8080`, `"start_command":"node dist/main.js"`}},
		{name: "dockerfile and port are stored", req: request{method: "GET", path: base, token: adminToken}, status: 200, has: []string{`"dockerfile_path":"deploy/web.Dockerfile"`, `"port":8080`}},
		{name: "dockerfile outside the repository", req: request{method: "PATCH", path: base, token: adminToken, body: `{"dockerfile_path":"../Dockerfile"}`}, status: 400, code: "invalid"},
		{name: "port out of range", req: request{method: "PATCH", path: base, token: adminToken, body: `{"port":70000}`}, status: 400, code: "invalid"},
		{name: "start command too long", req: request{method: "PATCH", path: base, token: adminToken, body: `{"start_command":"` + strings.Repeat("x", 2001) + `"}`}, status: 400, code: "invalid"},
		{name: "invalid patch", req: request{method: "PATCH", path: base, token: adminToken, body: `{"git_url":"ftp://x"}`}, status: 400, code: "invalid"},
		{name: "invalid patch json", req: request{method: "PATCH", path: base, token: adminToken, body: `[`}, status: 400, code: "invalid"},
		{name: "invalid patch not stored", req: request{method: "GET", path: base, token: adminToken}, status: 200, has: []string{"https://github.com/acme/app.git"}},
		{name: "get unknown", req: request{method: "GET", path: "/v1/projects/nope", token: adminToken}, status: 404, code: "not_found"},
		{name: "patch unknown", req: request{method: "PATCH", path: "/v1/projects/nope", token: adminToken, body: `{"name":"x"}`}, status: 404, code: "not_found"},
		{name: "delete", req: request{method: "DELETE", path: base, token: adminToken}, status: 204},
		{name: "get deleted", req: request{method: "GET", path: base, token: adminToken}, status: 404, code: "not_found"},
		{name: "delete deleted", req: request{method: "DELETE", path: base, token: adminToken}, status: 404, code: "not_found"},
		{name: "other project survives", req: request{method: "GET", path: "/v1/projects/" + p2.ID, token: adminToken}, status: 200},
	})
}

func TestDeleteProjectFreesDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d1 := h.createDeployment(t, adminToken, p.ID)
	d2 := h.createDeployment(t, adminToken, p.ID)
	h.mustAPI(t, 204, "DELETE", "/v1/projects/"+p.ID, adminToken, nil, nil)
	h.mu.Lock()
	got := strings.Join(h.deleted, ",")
	h.mu.Unlock()
	if !strings.Contains(got, d1.ID) || !strings.Contains(got, d2.ID) {
		t.Errorf("OnDelete got %q, want both deployments", got)
	}
	res := h.api(t, "GET", "/v1/deployments/"+d1.ID, adminToken, nil, nil)
	wantError(t, res, 404, "not_found")
}

// TestDeleteBigProjectFreesAllDeployments: a long-lived project has more
// deployments than one page of the list; every one is handed to OnDelete,
// or its artifacts stay in the store forever.
func TestDeleteBigProjectFreesAllDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "big")
	const n = 503
	for range n {
		if err := h.DB.CreateDeployment(t.Context(), &store.Deployment{ProjectID: p.ID, Ref: "main", Trigger: model.TriggerAPI}); err != nil {
			t.Fatal(err)
		}
	}
	h.mustAPI(t, 204, "DELETE", "/v1/projects/"+p.ID, adminToken, nil, nil)
	h.mu.Lock()
	got := len(h.deleted)
	h.mu.Unlock()
	if got != n {
		t.Errorf("OnDelete got %d deployments, want all %d", got, n)
	}
}

func TestEnvVars(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	const secret = "sup3r-s3cret-value-do-not-leak"
	env := "/v1/projects/" + p.ID + "/env"
	run(t, h, []scenario{
		{name: "empty list", req: request{method: "GET", path: env, token: adminToken}, status: 200, has: []string{"[]"}},
		{name: "set", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"API_TOKEN","value":"` + secret + `","target":"build"}`},
			status: 200, has: []string{`"key":"API_TOKEN"`, `"target":"build"`}, hasNot: []string{secret}},
		{name: "set default target", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"OTHER","value":"` + secret + `2"}`},
			status: 200, has: []string{`"target":"all"`}, hasNot: []string{secret}},
		{name: "replace", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"OTHER","value":"` + secret + `3","target":"runtime"}`},
			status: 200, hasNot: []string{secret}},
		{name: "empty value", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"EMPTY","value":""}`}, status: 200},
		{name: "list never shows values", req: request{method: "GET", path: env, token: adminToken}, status: 200,
			has:    []string{`"key":"API_TOKEN","target":"build"`, `"key":"OTHER","target":"runtime"`, `"key":"EMPTY"`},
			hasNot: []string{secret, "sealed", "value"}},
		{name: "bad key", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"1ABC","value":"x"}`}, status: 400, code: "invalid", has: []string{"1ABC"}},
		{name: "bad target", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"OK","value":"x","target":"prod"}`}, status: 400, code: "invalid"},
		{name: "no value", req: request{method: "PUT", path: env, token: adminToken, body: `{"key":"OK"}`}, status: 400, code: "invalid"},
		{name: "invalid json", req: request{method: "PUT", path: env, token: adminToken, body: `{`}, status: 400, code: "invalid"},
		{name: "unknown project", req: request{method: "GET", path: "/v1/projects/nope/env", token: adminToken}, status: 404, code: "not_found"},
		{name: "set on unknown project", req: request{method: "PUT", path: "/v1/projects/nope/env", token: adminToken, body: `{"key":"K","value":"v"}`}, status: 404, code: "not_found"},
		{name: "delete", req: request{method: "DELETE", path: env + "/OTHER", token: adminToken}, status: 204},
		{name: "delete again", req: request{method: "DELETE", path: env + "/OTHER", token: adminToken}, status: 404, code: "not_found"},
		{name: "list after delete", req: request{method: "GET", path: env, token: adminToken}, status: 200,
			has: []string{"API_TOKEN", "EMPTY"}, hasNot: []string{"OTHER", secret}},
	})

	// The value is stored sealed, bound to its project and key.
	vars, err := h.DB.EnvVars(t.Context(), adminUser(t, h).ID, p.ID)
	if err != nil || len(vars) != 2 {
		t.Fatalf("stored vars: %v, %v", vars, err)
	}
	for _, v := range vars {
		if strings.Contains(string(v.Sealed), secret) {
			t.Errorf("%s stored in clear", v.Key)
		}
	}
	plain, err := h.Box.Open(vars[0].Sealed, model.EnvAAD(p.ID, vars[0].Key))
	if err != nil || string(plain) != secret {
		t.Errorf("open %s: %q, %v; want the value written", vars[0].Key, plain, err)
	}
}

func adminUser(t *testing.T, h *harness) *store.User {
	t.Helper()
	u, err := h.DB.UserByLogin(t.Context(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestHealthAndRouting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h, []scenario{
		{name: "healthz", req: request{method: "GET", path: "/healthz"}, status: 200, has: []string{`"ok"`}},
		{name: "unknown route", req: request{method: "GET", path: "/nope"}, status: 404, code: "not_found"},
		{name: "unknown v1 route", req: request{method: "GET", path: "/v1/nope", token: adminToken}, status: 404, code: "not_found"},
	})
	var ready struct {
		Status string
		Checks map[string]string
	}
	res := h.mustAPI(t, 200, "GET", "/readyz", "", nil, &ready)
	if ready.Status != "ready" || len(ready.Checks) != 3 {
		t.Errorf("readyz: %s", res.body)
	}
	for _, name := range []string{"sqlite", "nats", "artifacts"} {
		if ready.Checks[name] != "ok" {
			t.Errorf("check %s = %q, want ok", name, ready.Checks[name])
		}
	}
	if !json.Valid(res.body) {
		t.Errorf("readyz body is not JSON: %s", res.body)
	}
}
