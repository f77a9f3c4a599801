package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// localURLs are git URLs fetched on the berth host itself.
var localURLs = []string{"/root/x", "/etc", "file:///etc", "file:///root/x", "http://127.0.0.1:9/x.git", "http://169.254.169.254/latest"}

// TestGitURLIsTheAdministrators: a user who is not the administrator may
// point a project or a deployment only at an https:// URL; a local path,
// file:// or http:// URL is refused with a sentence and nothing changes.
// The administrator may use them all, and the jobs say so.
func TestGitURLIsTheAdministrators(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, stranger := h.newUser(t, "mallory")
	p := h.createProject(t, stranger, "site")
	before := h.snapshot(t, stranger)
	for _, u := range localURLs {
		res := h.api(t, "POST", "/v1/projects", stranger, map[string]string{"name": "x", "git_url": u}, nil)
		wantError(t, res, http.StatusBadRequest, "invalid")
		if !strings.Contains(res.String(), "for the administrator") {
			t.Errorf("create with %s: %s, want the reason", u, res)
		}
		res = h.api(t, "PATCH", "/v1/projects/"+p.ID, stranger, map[string]string{"git_url": u}, nil)
		wantError(t, res, http.StatusBadRequest, "invalid")
		res = h.api(t, "POST", "/v1/projects/"+p.ID+"/deployments", stranger, map[string]string{"git_url": u}, nil)
		wantError(t, res, http.StatusBadRequest, "invalid")
	}
	if after := h.snapshot(t, stranger); after != before {
		t.Errorf("refused requests changed the stranger's projects:\n%s\n%s", before, after)
	}
	// https stays open to everyone, and the stranger's jobs may not fetch
	// from the host's disk.
	h.mustAPI(t, http.StatusOK, "PATCH", "/v1/projects/"+p.ID, stranger, map[string]string{"git_url": "https://example.com/other.git"}, nil)
	d := h.createDeployment(t, stranger, p.ID)
	if job := pendingJob(t, h, d.ID); job.AllowLocal {
		t.Errorf("the stranger's job allows local sources: %+v", job)
	}

	// The administrator may build from the host.
	var ap projectOut
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/projects", adminToken, map[string]string{"name": "local", "git_url": "/srv/repo"}, &ap)
	for _, u := range localURLs {
		h.mustAPI(t, http.StatusOK, "PATCH", "/v1/projects/"+ap.ID, adminToken, map[string]string{"git_url": u}, nil)
	}
	var ad deploymentOut
	h.mustAPI(t, http.StatusAccepted, "POST", "/v1/projects/"+ap.ID+"/deployments", adminToken, map[string]string{"git_url": "file:///srv/repo"}, &ad)
	if job := pendingJob(t, h, ad.ID); !job.AllowLocal || job.GitURL != "file:///srv/repo" {
		t.Errorf("the administrator's job: %+v, want AllowLocal", job)
	}
	// Nobody may use other schemes.
	for _, u := range []string{"ssh://git@example.com/x.git", "git://example.com/x.git", "ftp://example.com/x"} {
		wantError(t, h.api(t, "PATCH", "/v1/projects/"+ap.ID, adminToken, map[string]string{"git_url": u}, nil), http.StatusBadRequest, "invalid")
	}
}

// TestGitURLInTheDashboard: the dashboard's project forms apply the same
// rule, keep what was typed, and change nothing.
func TestGitURLInTheDashboard(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u, stranger := h.newUser(t, "mallory")
	p := h.createProject(t, stranger, "site")
	b := newBrowser(t, h)
	csrf := b.signInAs(u)
	before := h.snapshot(t, stranger)
	for _, git := range []string{"/etc", "file:///etc"} {
		res := b.post("/projects", url.Values{"_csrf": {csrf}, "name": {"x"}, "git_url": {git}})
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, "for the administrator") || !strings.Contains(res.body, `value="`+git+`"`) {
			t.Errorf("new project from %s: %d %.300s", git, res.status, res.body)
		}
		res = b.post("/projects/"+p.ID+"/settings", url.Values{"_csrf": {csrf}, "name": {"site"}, "production_branch": {"main"}, "git_url": {git}})
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, "for the administrator") {
			t.Errorf("settings with %s: %d %.300s", git, res.status, res.body)
		}
	}
	if after := h.snapshot(t, stranger); after != before {
		t.Errorf("refused forms changed the stranger's projects:\n%s\n%s", before, after)
	}
}

// TestAllowLocalGitOption: with BERTH_ALLOW_LOCAL_GIT every user may build
// from the host, and their jobs say so.
func TestAllowLocalGitOption(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withAllowLocalGit)
	_, user := h.newUser(t, "friend")
	var p projectOut
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/projects", user, map[string]string{"name": "local", "git_url": "/srv/repo"}, &p)
	d := h.createDeployment(t, user, p.ID)
	if job := pendingJob(t, h, d.ID); !job.AllowLocal {
		t.Errorf("job %+v, want AllowLocal", job)
	}
}
