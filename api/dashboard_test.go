package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each 303 the dashboard answers.
type browser struct {
	t      *testing.T
	h      *harness
	client *http.Client
}

func newBrowser(t *testing.T, h *harness) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, h: h, client: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is one dashboard answer.
type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() string { return p.header.Get("Location") }

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.h.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return page{status: res.StatusCode, header: res.Header, body: string(data)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do(http.MethodPost, path, form) }

// mustGet fetches a page that must answer 200 with HTML.
func (b *browser) mustGet(path string) page {
	b.t.Helper()
	p := b.get(path)
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		b.t.Fatalf("GET %s: %d %s: %.500s", path, p.status, p.header.Get("Content-Type"), p.body)
	}
	return p
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no _csrf field in page: %.500s", html)
	}
	return m[1]
}

// signIn signs the browser in as the admin through the sign-in form and
// returns the session's CSRF token.
func (b *browser) signIn() string {
	b.t.Helper()
	form := b.mustGet("/sign-in")
	res := b.post("/sign-in", url.Values{"_csrf": {csrfOf(b.t, form.body)}, "token": {adminToken}, "next": {"/"}})
	if res.status != http.StatusSeeOther || res.location() != "/" {
		b.t.Fatalf("sign in: %d to %q: %.500s", res.status, res.location(), res.body)
	}
	return csrfOf(b.t, b.mustGet("/").body)
}

// signInAs gives the browser a session of u, as GitHub sign-in would, and
// returns its CSRF token.
func (b *browser) signInAs(u *store.User) string {
	b.t.Helper()
	token, sess, err := b.h.DB.CreateSession(b.t.Context(), u.ID, time.Hour)
	if err != nil {
		b.t.Fatal(err)
	}
	base, _ := url.Parse(b.h.URL)
	b.client.Jar.SetCookies(base, []*http.Cookie{{Name: "berth_session", Value: token, Path: "/"}})
	return sess.CSRF
}

// readyDeployment creates a deployment and drives it to ready.
func (h *harness) readyDeployment(t *testing.T, token, projectID string) deploymentOut {
	t.Helper()
	d := h.createDeployment(t, token, projectID)
	for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
		if ok, err := h.DB.ApplyTransition(t.Context(), d.ID, store.Transition{To: to, At: time.Now()}); !ok || err != nil {
			t.Fatalf("drive %s to %s: %v %v", d.ID, to, ok, err)
		}
	}
	return d
}

// snapshot is everything a dashboard form could change for one user, as JSON.
func (h *harness) snapshot(t *testing.T, token string) string {
	t.Helper()
	var out []any
	var projects []map[string]any
	h.mustAPI(t, 200, "GET", "/v1/projects", token, nil, &projects)
	for _, p := range projects {
		id := p["id"].(string)
		var env, deps any
		h.mustAPI(t, 200, "GET", "/v1/projects/"+id+"/env", token, nil, &env)
		h.mustAPI(t, 200, "GET", "/v1/projects/"+id+"/deployments", token, nil, &deps)
		out = append(out, p, env, deps)
	}
	var keys []map[string]any
	h.mustAPI(t, 200, "GET", "/v1/api-keys", token, nil, &keys)
	for _, k := range keys {
		delete(k, "last_used_at") // the snapshot itself uses a key
	}
	out = append(out, keys)
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDashboardSignedOut: every page and form sends a browser without a
// live session to the sign-in page, and a form changes nothing.
func TestDashboardSignedOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "site")
	d := h.createDeployment(t, adminToken, p.ID)
	before := h.snapshot(t, adminToken)

	pages := []string{"/", "/projects/new", "/projects/" + p.ID, "/deployments/" + d.ID,
		"/deployments/" + d.ID + "/log.txt", "/api-keys", "/projects/" + p.ID + "?done=saved"}
	forms := []string{"/projects", "/projects/" + p.ID + "/settings", "/projects/" + p.ID + "/delete",
		"/projects/" + p.ID + "/deploy", "/projects/" + p.ID + "/env", "/projects/" + p.ID + "/env/KEY/delete",
		"/deployments/" + d.ID + "/redeploy", "/deployments/" + d.ID + "/cancel", "/deployments/" + d.ID + "/promote",
		"/api-keys", "/api-keys/x/revoke", "/sign-out"}

	for name, b := range map[string]*browser{"no cookie": newBrowser(t, h), "stale cookie": newBrowser(t, h)} {
		if name == "stale cookie" {
			base, _ := url.Parse(h.URL)
			b.client.Jar.SetCookies(base, []*http.Cookie{{Name: "berth_session", Value: "not-a-session", Path: "/"}})
		}
		t.Run(name, func(t *testing.T) {
			for _, path := range pages {
				res := b.get(path)
				want := "/sign-in?next=" + url.QueryEscape(path)
				if path == "/" {
					want = "/sign-in"
				}
				if res.status != http.StatusSeeOther || res.location() != want {
					t.Errorf("GET %s: %d to %q, want 303 to %q", path, res.status, res.location(), want)
				}
			}
			for _, path := range forms {
				res := b.post(path, url.Values{"_csrf": {"guess"}, "name": {"x"}, "git_url": {"https://example.com/x.git"},
					"confirm": {"site"}, "key": {"KEY"}, "value": {"v"}})
				if res.status != http.StatusSeeOther || res.location() != "/sign-in" {
					t.Errorf("POST %s: %d to %q, want 303 to /sign-in", path, res.status, res.location())
				}
			}
		})
	}
	// A bearer token is for the API; it does not open the dashboard.
	res := h.do(t, request{method: "GET", path: "/projects/" + p.ID, token: adminToken})
	if !strings.Contains(res.String(), "Sign in to berth") {
		t.Errorf("dashboard page with a bearer token: %d %.300s; want the sign-in page", res.status, res)
	}
	if after := h.snapshot(t, adminToken); after != before {
		t.Errorf("signed-out forms changed something:\nbefore %s\nafter  %s", before, after)
	}
}

// TestDashboardSignIn: the admin token form, its errors, its CSRF token and
// its return to the page that was asked for.
func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := newBrowser(t, h)

	form := b.mustGet("/sign-in?next=%2Fapi-keys")
	for _, want := range []string{`name="token"`, `type="password"`, `<label for="token">`, `value="/api-keys"`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	if strings.Contains(form.body, "Sign in with GitHub") {
		t.Error("GitHub button shown without a GitHub app configured")
	}
	if csp := form.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	csrf := csrfOf(t, form.body)

	cases := []struct {
		name   string
		form   url.Values
		status int
		text   string
	}{
		{"no csrf", url.Values{"token": {adminToken}}, http.StatusForbidden, "expired"},
		{"wrong csrf", url.Values{"_csrf": {"x" + csrf[1:]}, "token": {adminToken}}, http.StatusForbidden, "expired"},
		{"empty token", url.Values{"_csrf": {csrf}, "token": {""}}, http.StatusBadRequest, "Enter the admin token."},
		{"wrong token", url.Values{"_csrf": {csrf}, "token": {adminToken + "x"}}, http.StatusUnauthorized, "That token is not valid"},
	}
	for _, tt := range cases {
		res := b.post("/sign-in", tt.form)
		if res.status != tt.status || !strings.Contains(res.body, tt.text) || !strings.Contains(res.body, `role="alert"`) {
			t.Errorf("%s: %d, want %d with %q: %.300s", tt.name, res.status, tt.status, tt.text, res.body)
		}
		if ck := res.header.Get("Set-Cookie"); strings.Contains(ck, "berth_session=") {
			t.Errorf("%s: a session cookie was set: %s", tt.name, ck)
		}
	}

	res := b.post("/sign-in", url.Values{"_csrf": {csrf}, "token": {adminToken}, "next": {"/api-keys"}})
	if res.status != http.StatusSeeOther || res.location() != "/api-keys" {
		t.Fatalf("sign in: %d to %q", res.status, res.location())
	}
	ck := res.header.Values("Set-Cookie")
	if !strings.Contains(strings.Join(ck, "\n"), "berth_session=") || !strings.Contains(strings.Join(ck, "\n"), "HttpOnly") {
		t.Errorf("session cookie: %q", ck)
	}
	keys := b.mustGet("/api-keys")
	if !strings.Contains(keys.body, "admin") || !strings.Contains(keys.body, "Sign out") {
		t.Errorf("API keys page after sign-in: %.500s", keys.body)
	}
	if res := b.get("/sign-in"); res.status != http.StatusSeeOther || res.location() != "/" {
		t.Errorf("sign-in page when signed in: %d to %q", res.status, res.location())
	}

	// A destination on another site is never followed.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b2 := newBrowser(t, h)
		form := b2.mustGet("/sign-in?next=" + url.QueryEscape(next))
		res := b2.post("/sign-in", url.Values{"_csrf": {csrfOf(t, form.body)}, "token": {adminToken}, "next": {next}})
		if res.status != http.StatusSeeOther || res.location() != "/" {
			t.Errorf("next=%q: %d to %q, want /", next, res.status, res.location())
		}
	}

	// Signing out ends the session on the server, not only in the browser.
	sess := ""
	base, _ := url.Parse(h.URL)
	for _, c := range b.client.Jar.Cookies(base) {
		if c.Name == "berth_session" {
			sess = c.Value
		}
	}
	res = b.post("/sign-out", url.Values{"_csrf": {csrfOf(t, keys.body)}})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location(), "/sign-in") {
		t.Fatalf("sign out: %d to %q", res.status, res.location())
	}
	if _, _, err := h.DB.SessionByToken(t.Context(), sess); store.ErrorCode(err) != store.EUNAUTHORIZED {
		t.Errorf("session after sign-out: %v, want it gone", err)
	}
	if res := b.get("/"); res.status != http.StatusSeeOther {
		t.Errorf("GET / after sign-out: %d, want a redirect to sign in", res.status)
	}
}

// TestDashboardOtherUsersRows: another user's project, deployment and key
// are a 404 page, for pages and forms alike, and nothing of theirs changes.
func TestDashboardOtherUsersRows(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice, tokenA := h.newUser(t, "alice")
	bob, _ := h.newUser(t, "bob")
	_ = alice
	pa := h.createProject(t, tokenA, "alpha")
	h.mustAPI(t, 200, "PUT", "/v1/projects/"+pa.ID+"/env", tokenA, map[string]string{"key": "SECRET", "value": "alice-secret"}, nil)
	queued := h.createDeployment(t, tokenA, pa.ID)
	ready := h.readyDeployment(t, tokenA, pa.ID)
	var key struct{ Key struct{ ID string } }
	h.mustAPI(t, 201, "POST", "/v1/api-keys", tokenA, map[string]string{"name": "alices"}, &key)
	before := h.snapshot(t, tokenA)

	b := newBrowser(t, h)
	csrf := b.signInAs(bob)
	for _, path := range []string{"/projects/" + pa.ID, "/deployments/" + queued.ID, "/deployments/" + ready.ID,
		"/deployments/" + ready.ID + "/log.txt"} {
		res := b.get(path)
		if res.status != http.StatusNotFound || !strings.Contains(res.body, "not found") || !strings.Contains(res.body, "<html") {
			t.Errorf("GET %s as bob: %d, want a 404 page: %.300s", path, res.status, res.body)
		}
		if strings.Contains(res.body, "alpha") {
			t.Errorf("GET %s as bob shows alice's project name", path)
		}
	}
	forms := map[string]url.Values{
		"/projects/" + pa.ID + "/settings":          {"name": {"pwned"}, "production_branch": {"main"}, "git_url": {"https://example.com/p.git"}},
		"/projects/" + pa.ID + "/delete":            {"confirm": {"alpha"}},
		"/projects/" + pa.ID + "/deploy":            {},
		"/projects/" + pa.ID + "/env":               {"key": {"SECRET"}, "value": {"pwned"}, "target": {"all"}},
		"/projects/" + pa.ID + "/env/SECRET/delete": {},
		"/deployments/" + queued.ID + "/cancel":     {},
		"/deployments/" + ready.ID + "/redeploy":    {},
		"/deployments/" + ready.ID + "/promote":     {},
		"/api-keys/" + key.Key.ID + "/revoke":       {},
	}
	for path, form := range forms {
		form.Set("_csrf", csrf)
		if res := b.post(path, form); res.status != http.StatusNotFound {
			t.Errorf("POST %s as bob: %d, want 404: %.300s", path, res.status, res.body)
		}
	}
	if after := h.snapshot(t, tokenA); after != before {
		t.Errorf("bob changed alice's rows:\nbefore %s\nafter  %s", before, after)
	}
	if list := b.mustGet("/"); strings.Contains(list.body, "alpha") || !strings.Contains(list.body, "Deploy your first project") {
		t.Errorf("bob's projects page: %.500s", list.body)
	}
}

// TestDashboardCSRF: every form refuses a missing, wrong or other
// session's CSRF token with 403 and changes nothing; with the right token
// it does its job.
func TestDashboardCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "site")
	doomed := h.createProject(t, adminToken, "doomed")
	h.mustAPI(t, 200, "PUT", "/v1/projects/"+p.ID+"/env", adminToken, map[string]string{"key": "OLD", "value": "v"}, nil)
	queued := h.createDeployment(t, adminToken, p.ID)
	ready := h.readyDeployment(t, adminToken, p.ID)
	var key struct{ Key struct{ ID string } }
	h.mustAPI(t, 201, "POST", "/v1/api-keys", adminToken, map[string]string{"name": "old key"}, &key)

	b := newBrowser(t, h)
	csrf := b.signIn()
	other := newBrowser(t, h).signIn() // a real token, of another session

	type check func(t *testing.T, res page)
	redirectTo := func(prefix string) check {
		return func(t *testing.T, res page) {
			t.Helper()
			if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location(), prefix) {
				t.Errorf("%d to %q, want 303 to %s…: %.300s", res.status, res.location(), prefix, res.body)
			}
		}
	}
	forms := []struct {
		path   string
		form   url.Values
		works  check
		effect func(t *testing.T)
	}{
		{"/projects", url.Values{"name": {"new one"}, "git_url": {"https://example.com/new.git"}}, redirectTo("/projects/"),
			func(t *testing.T) {
				var list []projectOut
				h.mustAPI(t, 200, "GET", "/v1/projects", adminToken, nil, &list)
				if len(list) != 3 {
					t.Errorf("%d projects, want 3", len(list))
				}
			}},
		{"/projects/" + p.ID + "/settings", url.Values{"name": {"renamed"}, "production_branch": {"prod"},
			"git_url": {"https://example.com/site.git"}, "build_command": {"make site"}, "start_command": {"node serve.js"},
			"dockerfile_path": {"deploy/Dockerfile"}, "port": {"8080"}}, redirectTo("/projects/" + p.ID),
			func(t *testing.T) {
				var got struct {
					projectOut
					BuildCommand   string `json:"build_command"`
					StartCommand   string `json:"start_command"`
					DockerfilePath string `json:"dockerfile_path"`
					Port           int    `json:"port"`
				}
				h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, adminToken, nil, &got)
				if got.Name != "renamed" || got.ProductionBranch != "prod" || got.BuildCommand != "make site" || got.StartCommand != "node serve.js" ||
					got.DockerfilePath != "deploy/Dockerfile" || got.Port != 8080 {
					t.Errorf("after settings: %+v", got)
				}
			}},
		{"/projects/" + p.ID + "/env", url.Values{"key": {"NEW_VAR"}, "value": {"new-secret"}, "target": {"build"}}, redirectTo("/projects/" + p.ID),
			func(t *testing.T) {
				vars, _ := h.DB.EnvVars(t.Context(), adminUser(t, h).ID, p.ID)
				if len(vars) != 2 || vars[0].Key != "NEW_VAR" || vars[0].Target != "build" {
					t.Errorf("vars after add: %+v", vars)
				}
				if plain, err := h.Box.Open(vars[0].Sealed, model.EnvAAD(p.ID, "NEW_VAR")); err != nil || string(plain) != "new-secret" {
					t.Errorf("NEW_VAR opens to %q, %v", plain, err)
				}
			}},
		{"/projects/" + p.ID + "/env", url.Values{"key": {"NEW_VAR"}, "value": {""}, "keep_value": {"1"}, "target": {"runtime"}}, redirectTo("/projects/" + p.ID),
			func(t *testing.T) {
				vars, _ := h.DB.EnvVars(t.Context(), adminUser(t, h).ID, p.ID)
				if vars[0].Target != "runtime" {
					t.Errorf("target after update: %q", vars[0].Target)
				}
				if plain, err := h.Box.Open(vars[0].Sealed, model.EnvAAD(p.ID, "NEW_VAR")); err != nil || string(plain) != "new-secret" {
					t.Errorf("a target-only update changed the value: %q, %v", plain, err)
				}
			}},
		{"/projects/" + p.ID + "/env/OLD/delete", url.Values{}, redirectTo("/projects/" + p.ID),
			func(t *testing.T) {
				vars, _ := h.DB.EnvVars(t.Context(), adminUser(t, h).ID, p.ID)
				if len(vars) != 1 {
					t.Errorf("vars after delete: %d", len(vars))
				}
			}},
		{"/projects/" + p.ID + "/deploy", url.Values{}, redirectTo("/deployments/"),
			func(t *testing.T) {
				var list []deploymentOut
				h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID+"/deployments", adminToken, nil, &list)
				if len(list) != 3 || list[0].State != "queued" || list[0].Trigger != "dashboard" || list[0].Ref != "prod" {
					t.Errorf("after deploy: %+v", list)
				}
			}},
		{"/deployments/" + queued.ID + "/cancel", url.Values{}, redirectTo("/deployments/" + queued.ID),
			func(t *testing.T) {
				var d deploymentOut
				h.mustAPI(t, 200, "GET", "/v1/deployments/"+queued.ID, adminToken, nil, &d)
				if d.State != "cancelled" {
					t.Errorf("state after cancel: %s", d.State)
				}
			}},
		{"/deployments/" + ready.ID + "/promote", url.Values{}, redirectTo("/deployments/" + ready.ID),
			func(t *testing.T) {
				var got projectOut
				h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, adminToken, nil, &got)
				if got.ProductionID != ready.ID {
					t.Errorf("production %q, want %q", got.ProductionID, ready.ID)
				}
			}},
		{"/deployments/" + ready.ID + "/redeploy", url.Values{}, redirectTo("/deployments/"),
			func(t *testing.T) {
				var list []deploymentOut
				h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID+"/deployments", adminToken, nil, &list)
				if len(list) != 4 || list[0].Trigger != "redeploy" {
					t.Errorf("after redeploy: %+v", list)
				}
			}},
		{"/api-keys", url.Values{"name": {"laptop"}}, func(t *testing.T, res page) {
			if res.status != http.StatusOK || !regexp.MustCompile(`value="berth_[a-z0-9]+_[a-z0-9]+"`).MatchString(res.body) {
				t.Errorf("create key: %d, want the page with the token: %.500s", res.status, res.body)
			}
		}, func(t *testing.T) {
			list := b.mustGet("/api-keys")
			if !strings.Contains(list.body, "laptop") || regexp.MustCompile(`berth_[a-z0-9]+_[a-z0-9]{20,}`).MatchString(list.body) {
				t.Errorf("keys page after create: the key must be listed, its token never shown again: %.800s", list.body)
			}
		}},
		{"/api-keys/" + key.Key.ID + "/revoke", url.Values{}, redirectTo("/api-keys"),
			func(t *testing.T) {
				keys, _ := h.DB.APIKeys(t.Context(), adminUser(t, h).ID)
				for _, k := range keys {
					if k.ID == key.Key.ID {
						t.Error("key not revoked")
					}
				}
			}},
		{"/projects/" + doomed.ID + "/delete", url.Values{"confirm": {"doomed"}}, redirectTo("/"),
			func(t *testing.T) {
				if res := h.api(t, "GET", "/v1/projects/"+doomed.ID, adminToken, nil, nil); res.status != 404 {
					t.Errorf("project after delete: %d", res.status)
				}
			}},
		{"/sign-out", url.Values{}, redirectTo("/sign-in"), func(t *testing.T) {
			if res := b.get("/"); res.status != http.StatusSeeOther {
				t.Errorf("still signed in after sign-out: %d", res.status)
			}
		}},
	}
	for _, f := range forms {
		t.Run(strings.TrimPrefix(f.path, "/"), func(t *testing.T) {
			before := h.snapshot(t, adminToken)
			for name, token := range map[string]string{"missing": "", "wrong": "x" + csrf[1:], "other session's": other} {
				form := url.Values{}
				for k, v := range f.form {
					form[k] = v
				}
				if token != "" {
					form.Set("_csrf", token)
				}
				res := b.post(f.path, form)
				if res.status != http.StatusForbidden || !strings.Contains(res.body, "reload the page") {
					t.Errorf("%s CSRF token: %d, want a 403 page: %.300s", name, res.status, res.body)
				}
			}
			if after := h.snapshot(t, adminToken); after != before {
				t.Fatalf("a refused form changed something:\nbefore %s\nafter  %s", before, after)
			}
			form := url.Values{"_csrf": {csrf}}
			for k, v := range f.form {
				form[k] = v
			}
			f.works(t, b.post(f.path, form))
			f.effect(t)
		})
	}
}

// TestDashboardPages: what the pages show, and the sentences forms answer
// with when the input is wrong.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := newBrowser(t, h)
	csrf := b.signIn()

	empty := b.mustGet("/")
	if !strings.Contains(empty.body, "Deploy your first project") || !strings.Contains(empty.body, `href="/projects/new"`) {
		t.Errorf("empty projects page: %.800s", empty.body)
	}

	bad := []struct {
		name string
		form url.Values
		text string
	}{
		{"no repository", url.Values{"name": {"x"}}, "Enter the git URL of the repository to deploy."},
		{"bad URL", url.Values{"name": {"x"}, "git_url": {"ftp://example.com/x"}}, "The repository URL must be an https://, http:// or file:// URL or an absolute path."},
		{"bad branch", url.Values{"git_url": {"https://example.com/x.git"}, "production_branch": {"a..b"}}, "is not a valid branch name."},
	}
	for _, tt := range bad {
		tt.form.Set("_csrf", csrf)
		res := b.post("/projects", tt.form)
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, tt.text) || !strings.Contains(res.body, `role="alert"`) {
			t.Errorf("%s: %d, want 400 with %q: %.500s", tt.name, res.status, tt.text, res.body)
		}
		if v := tt.form.Get("git_url"); v != "" && !strings.Contains(res.body, `value="`+v+`"`) {
			t.Errorf("%s: the form lost what was typed", tt.name)
		}
	}

	res := b.post("/projects", url.Values{"_csrf": {csrf}, "git_url": {"https://example.com/team/My-Site.git"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("create project: %d %.300s", res.status, res.body)
	}
	projectPath := strings.TrimSuffix(res.location(), "?done=created")
	id := strings.TrimPrefix(projectPath, "/projects/")
	var p projectOut
	h.mustAPI(t, 200, "GET", "/v1/projects/"+id, adminToken, nil, &p)
	if p.Name != "My-Site" || p.Slug != "my-site" || p.ProductionBranch != "main" {
		t.Errorf("project from the form: %+v", p)
	}
	created := b.mustGet(res.location())
	for _, want := range []string{"Project created.", "No deployments yet", "Deploy now", `action="/projects/` + id + `/deploy"`,
		"my-site.localhost:" + h.Port, `id="confirm"`} {
		if !strings.Contains(created.body, want) {
			t.Errorf("new project page lacks %q", want)
		}
	}

	const secret = "write-only-value-7d1c"
	if res := b.post(projectPath+"/env", url.Values{"_csrf": {csrf}, "key": {"API_KEY"}, "value": {secret}, "target": {"all"}}); res.status != http.StatusSeeOther {
		t.Fatalf("add variable: %d %.300s", res.status, res.body)
	}
	if res := b.post(projectPath+"/env", url.Values{"_csrf": {csrf}, "key": {"1BAD"}, "value": {"x"}, "target": {"all"}}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "is not a valid variable name") {
		t.Errorf("bad variable name: %d %.300s", res.status, res.body)
	}
	if res := b.post(projectPath+"/delete", url.Values{"_csrf": {csrf}, "confirm": {"my-site"}}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "type its name, My-Site,") {
		t.Errorf("delete with the wrong confirmation: %d %.300s", res.status, res.body)
	}
	if res := b.post(projectPath+"/settings", url.Values{"_csrf": {csrf}, "name": {""}, "production_branch": {"main"}, "git_url": {p.GitURL}}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "A project needs a name") {
		t.Errorf("settings without a name: %d %.300s", res.status, res.body)
	}

	d := h.createDeployment(t, adminToken, id)
	h.publish(t, stateEvent(d.ID, model.StateBuilding), logEvent(d.ID, "\x1b[32mhello\x1b[0m <script>alert(1)</script>"))
	project := b.mustGet(projectPath)
	for _, want := range []string{"API_KEY", `data-deployment="` + d.ID + `"`, "state-queued", "Environment variables"} {
		if !strings.Contains(project.body, want) && !(want == "state-queued" && strings.Contains(project.body, "state-building")) {
			t.Errorf("project page lacks %q", want)
		}
	}
	if strings.Contains(project.body, secret) {
		t.Error("the project page shows a variable's value")
	}

	dep := b.mustGet("/deployments/" + d.ID)
	for _, want := range []string{`data-src="/v1/deployments/` + d.ID + `/logs"`, "Build log", "Cancel build",
		"http://" + d.ID[:8] + "-preview.localhost:" + h.Port + "/"} {
		if !strings.Contains(dep.body, want) {
			t.Errorf("deployment page lacks %q", want)
		}
	}
	waitFor(t, func() bool {
		txt := b.get("/deployments/" + d.ID + "/log.txt")
		return strings.Contains(txt.body, "<script>alert(1)</script>")
	})
	if txt := b.get("/deployments/" + d.ID + "/log.txt"); !strings.HasPrefix(txt.header.Get("Content-Type"), "text/plain") {
		t.Errorf("raw log Content-Type %q", txt.header.Get("Content-Type"))
	}

	if res := b.post("/deployments/"+d.ID+"/promote", url.Values{"_csrf": {csrf}}); res.status != http.StatusConflict || !strings.Contains(res.body, "Only a ready deployment can be promoted") {
		t.Errorf("promote an unfinished deployment: %d %.300s", res.status, res.body)
	}
	if res := b.get("/projects/0000000000000000"); res.status != http.StatusNotFound || strings.Count(res.body, "Project not found.") != 1 {
		t.Errorf("unknown project: %d %.300s", res.status, res.body)
	}

	// Assets: the URL in the page carries the hash, and may be cached for good.
	m := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(dep.body)
	if m == nil {
		t.Fatal("no stylesheet link")
	}
	css := b.get(m[1])
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") || !strings.Contains(css.header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %q %q", css.status, css.header.Get("Content-Type"), css.header.Get("Cache-Control"))
	}
	if js := b.get("/static/app.js"); js.status != 200 || strings.Contains(js.header.Get("Cache-Control"), "immutable") {
		t.Errorf("unversioned script: %d %q", js.status, js.header.Get("Cache-Control"))
	}
	if res := b.get("/static/../dashboard.go"); res.status != http.StatusNotFound {
		t.Errorf("path outside the assets: %d", res.status)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDashboardSignInMethods: the sign-in page offers what the server is
// configured for: GitHub when an OAuth app is set up, and says what to
// configure when nothing is.
func TestDashboardSignInMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name       string
		github     api.GitHubConfig
		has, lacks []string
	}{
		{"github", api.GitHubConfig{ClientID: "client-id"}, []string{`href="/auth/github"`, "Sign in with GitHub"}, []string{`name="token"`, "No way to sign in"}},
		{"nothing", api.GitHubConfig{}, []string{"No way to sign in", "BERTH_ADMIN_TOKEN"}, []string{`name="token"`, "Sign in with GitHub"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Not started, so no admin user: token sign-in is off.
			srv, err := api.New(api.Config{AppDomain: "localhost", PublicURL: h.URL, GitHub: tt.github},
				api.Deps{DB: h.DB, Deploys: h.Deploys, Secrets: h.Box, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sign-in", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			for _, s := range tt.has {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("sign-in page lacks %q", s)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("sign-in page shows %q", s)
				}
			}
		})
	}
}
