package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestDomains: custom domains through the API: add (with the records to
// create), taken names, bad names, another user's project, verification
// against a DNS server on loopback, redirects, removal, and the project's
// deletion freeing its names.
func TestDomains(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "shop")
	other := h.createProject(t, adminToken, "other")
	_, bobToken := h.newUser(t, "bob")
	bobs := h.createProject(t, bobToken, "bobs")
	doms := "/v1/projects/" + p.ID + "/domains"
	post := func(name, path, token, body string) scenario {
		return scenario{name: name, req: request{method: "POST", path: path, token: token, body: body}}
	}
	with := func(sc scenario, status int, code string, has ...string) scenario {
		sc.status, sc.code, sc.has = status, code, has
		return sc
	}
	run(t, h, []scenario{
		{name: "empty list", req: request{method: "GET", path: doms, token: adminToken}, status: 200, has: []string{"[]"}},
		with(post("add subdomain", doms, adminToken, `{"name":"WWW.Example.test."}`), 201, "",
			`"name":"www.example.test"`, `"verified":false`, `"apex":false`,
			`{"type":"CNAME","name":"www.example.test","value":"shop.localhost"}`, `"type":"TXT","name":"_berth-challenge.www.example.test"`),
		with(post("add apex redirecting to www", doms, adminToken, `{"name":"example.test","redirect":"www.example.test"}`), 201, "",
			`"apex":true`, `"redirect_to":"www.example.test"`, `{"type":"A","name":"example.test","value":"127.0.0.1"}`, `"name":"_berth-challenge.example.test"`),
		with(post("same name again", doms, adminToken, `{"name":"www.example.test"}`), 409, "conflict", "already a domain of this project"),
		with(post("taken by the owner's other project", "/v1/projects/"+other.ID+"/domains", adminToken, `{"name":"www.example.test"}`), 409, "conflict"),
		{name: "taken by another user's project", req: request{method: "POST", path: "/v1/projects/" + bobs.ID + "/domains", token: bobToken,
			body: `{"name":"www.EXAMPLE.test"}`}, status: 409, code: "conflict", has: []string{"another project"}, hasNot: []string{"shop", p.ID}},
		with(post("another user's project", doms, bobToken, `{"name":"bob.example.test"}`), 404, "not_found"),
		{name: "another user's list", req: request{method: "GET", path: doms, token: bobToken}, status: 404, code: "not_found"},
		with(post("another user's verify", doms+"/www.example.test/verify", bobToken, ""), 404, "not_found"),
		{name: "another user's delete", req: request{method: "DELETE", path: doms + "/www.example.test", token: bobToken}, status: 404, code: "not_found"},
		{name: "another user's patch", req: request{method: "PATCH", path: doms + "/example.test", token: bobToken, body: `{"redirect_to":""}`}, status: 404, code: "not_found"},
		with(post("public suffix", doms, adminToken, `{"name":"co.uk"}`), 400, "invalid", "public suffix"),
		with(post("localhost", doms, adminToken, `{"name":"localhost"}`), 400, "invalid"),
		with(post("under the apps domain", doms, adminToken, `{"name":"x.localhost"}`), 400, "invalid"),
		with(post("address", doms, adminToken, `{"name":"192.0.2.1"}`), 400, "invalid", "IP address"),
		with(post("port", doms, adminToken, `{"name":"example.org:8080"}`), 400, "invalid", "port"),
		with(post("url", doms, adminToken, `{"name":"https://example.org/"}`), 400, "invalid"),
		with(post("bad label", doms, adminToken, `{"name":"bad_label.example.org"}`), 400, "invalid"),
		with(post("redirect to an unknown domain adds nothing", doms, adminToken, `{"name":"blog.example.test","redirect":"nope.example.test"}`), 400, "invalid"),
		{name: "list", req: request{method: "GET", path: doms, token: adminToken}, status: 200,
			has: []string{"www.example.test", `"name":"example.test"`}, hasNot: []string{"blog.example.test", "token"}},
	})

	// Unverified: the host is a deployment host answering a 404 page, never the dashboard.
	res := h.do(t, request{method: "GET", path: "/healthz", host: "www.example.test"})
	if res.status != http.StatusNotFound || !strings.Contains(string(res.body), "not verified") {
		t.Errorf("unverified host: %d %s", res.status, res.body)
	}

	// Verification: each failure says which record and what it points at now.
	verify := func(name string, want int, has ...string) {
		t.Helper()
		res := h.do(t, request{method: "POST", path: doms + "/" + name + "/verify", token: adminToken})
		if res.status != want {
			t.Fatalf("verify %s: %d %s", name, res.status, res.body)
		}
		for _, s := range has {
			if !strings.Contains(string(res.body), s) {
				t.Errorf("verify %s: body lacks %q: %s", name, s, res.body)
			}
		}
	}
	verify("www.example.test", 422, `"code":"dns_not_ready"`, "needs a CNAME record to shop.localhost", "no DNS record")
	h.DNS.SetCNAME("www.example.test", "other.localhost")
	verify("www.example.test", 422, "now a CNAME to other.localhost")
	h.DNS.SetCNAME("www.example.test", "shop.localhost")
	verify("WWW.example.test", 200, `"verified":true`)

	var apex struct {
		Records []struct{ Type, Name, Value string }
	}
	h.mustAPI(t, 200, "PATCH", doms+"/example.test", adminToken, map[string]any{}, &apex)
	token := ""
	for _, r := range apex.Records {
		if r.Type == "TXT" {
			token = r.Value
		}
	}
	h.DNS.SetAddrs("example.test", "198.51.100.7")
	verify("example.test", 422, "needs A/AAAA records pointing at 127.0.0.1; it now resolves to 198.51.100.7", "_berth-challenge.example.test with the value "+token+" is missing")
	h.DNS.SetAddrs("example.test", "127.0.0.1")
	h.DNS.SetTXT("_berth-challenge.example.test", token)
	verify("example.test", 200, `"verified":true`, `"redirect_to":"www.example.test"`)

	// The redirect is served at once (the host cache was told).
	res = h.do(t, request{method: "GET", path: "/a?b=c", host: "example.test:" + h.Port, from: "127.0.0.1"}) // redirects not followed
	if loc := res.header.Get("Location"); res.status != http.StatusPermanentRedirect || loc != "http://www.example.test:"+h.Port+"/a?b=c" {
		t.Errorf("apex redirect: %d to %q", res.status, loc)
	}
	run(t, h, []scenario{
		{name: "redirect to itself", req: request{method: "PATCH", path: doms + "/example.test", token: adminToken, body: `{"redirect_to":"example.test"}`}, status: 400, code: "invalid"},
		{name: "stop redirecting", req: request{method: "PATCH", path: doms + "/example.test", token: adminToken, body: `{"redirect_to":""}`}, status: 200, has: []string{`"redirect_to":""`}},
		{name: "remove", req: request{method: "DELETE", path: doms + "/www.example.test", token: adminToken}, status: 204},
		{name: "remove again", req: request{method: "DELETE", path: doms + "/www.example.test", token: adminToken}, status: 404, code: "not_found"},
	})
	// Removed: the host is nobody's deployment host any more.
	res = h.do(t, request{method: "GET", path: "/healthz", host: "www.example.test"})
	if res.status != http.StatusOK || strings.Contains(string(res.body), "verified") {
		t.Errorf("removed host: %d %s", res.status, res.body)
	}

	// Deleting the project frees its names for anyone.
	h.mustAPI(t, 204, "DELETE", "/v1/projects/"+p.ID, adminToken, nil, nil)
	var d struct{ Name string }
	h.mustAPI(t, 201, "POST", "/v1/projects/"+bobs.ID+"/domains", bobToken, map[string]string{"name": "example.test"}, &d)
	if d.Name != "example.test" {
		t.Errorf("claimed %q", d.Name)
	}
	var list []json.RawMessage
	h.mustAPI(t, 200, "GET", "/v1/projects/"+bobs.ID+"/domains", bobToken, nil, &list)
	if len(list) != 1 {
		t.Errorf("bob's domains: %d", len(list))
	}
}
