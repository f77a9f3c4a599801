package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

func TestCreateProjectSlugs(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	other := mustUser(t, db, "bob")

	tests := []struct {
		owner, name, slug string
	}{
		{u.ID, "My App", "my-app"},
		{u.ID, "my app", "my-app-2"},
		{other.ID, "MY_APP!", "my-app-3"}, // slugs are unique across users: they are host names
		{u.ID, "  Blog  ", "blog"},
		{u.ID, "site-preview", "site"}, // "-preview" hosts belong to deployments
		{u.ID, "!!!", "project"},
		{u.ID, strings.Repeat("a", 50), strings.Repeat("a", 40)},
		// Trimming "-preview" once is not enough: the slug would still be a
		// deployment's host label.
		{u.ID, "abcdef12-preview-preview", "abcdef12"},
	}
	for _, tt := range tests {
		p := mustProject(t, db, tt.owner, tt.name)
		if strings.HasSuffix(p.Slug, "-preview") {
			t.Errorf("name %q: slug %q ends in -preview, which names deployment hosts", tt.name, p.Slug)
		}
		if p.Slug != tt.slug {
			t.Errorf("name %q: slug %q, want %q", tt.name, p.Slug, tt.slug)
		}
		if p.ProductionBranch != "main" {
			t.Errorf("name %q: production branch %q, want the default main", tt.name, p.ProductionBranch)
		}
		got, err := db.Project(t.Context(), tt.owner, p.ID)
		if err != nil {
			t.Fatalf("read back %q: %v", tt.name, err)
		}
		if got.Slug != tt.slug || got.Name != strings.TrimSpace(tt.name) || got.OwnerID != tt.owner {
			t.Errorf("read back %q: %+v", tt.name, got)
		}
		bySlug, err := db.ProjectBySlug(t.Context(), tt.slug)
		if err != nil || bySlug.ID != p.ID {
			t.Errorf("ProjectBySlug(%q) = %v, %v; want %s", tt.slug, bySlug, err, p.ID)
		}
	}
}

func TestProjectValidation(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	valid := func() Project {
		return Project{OwnerID: u.ID, Name: "app", GitURL: "https://github.com/a/b.git"}
	}
	tests := []struct {
		name   string
		modify func(*Project)
		ok     bool
	}{
		{"valid https", func(p *Project) {}, true},
		{"valid file url", func(p *Project) { p.GitURL = "file:///srv/repo" }, true},
		{"valid absolute path", func(p *Project) { p.GitURL = "/srv/repo" }, true},
		{"github repo only", func(p *Project) { p.GitURL, p.GitHubRepo = "", "owner/name" }, true},
		{"nested dirs", func(p *Project) { p.RootDir, p.OutputDir = "apps/web", "dist" }, true},
		{"slash branch", func(p *Project) { p.ProductionBranch = "release/v1" }, true},
		{"empty name", func(p *Project) { p.Name = "" }, false},
		{"blank name", func(p *Project) { p.Name = "   " }, false},
		{"long name", func(p *Project) { p.Name = strings.Repeat("x", 101) }, false},
		{"no source", func(p *Project) { p.GitURL = "" }, false},
		{"ftp url", func(p *Project) { p.GitURL = "ftp://x" }, false},
		{"ssh url", func(p *Project) { p.GitURL = "git@github.com:a/b.git" }, false},
		{"credentials in url", func(p *Project) { p.GitURL = "https://user:pw@host/x" }, false},
		{"user in url", func(p *Project) { p.GitURL = "https://token@host/x" }, false},
		{"https without host", func(p *Project) { p.GitURL = "https:///x" }, false},
		{"relative url", func(p *Project) { p.GitURL = "repo.git" }, false},
		{"bad github repo", func(p *Project) { p.GitHubRepo = "no-slash" }, false},
		{"root dir escapes", func(p *Project) { p.RootDir = "../x" }, false},
		{"root dir escapes after clean", func(p *Project) { p.RootDir = "a/../../x" }, false},
		{"root dir is parent", func(p *Project) { p.RootDir = ".." }, false},
		{"absolute root dir", func(p *Project) { p.RootDir = "/etc" }, false},
		{"backslash output dir", func(p *Project) { p.OutputDir = `..\x` }, false},
		{"branch with dash", func(p *Project) { p.ProductionBranch = "-x" }, false},
		{"branch with dots", func(p *Project) { p.ProductionBranch = "a..b" }, false},
		{"branch with space", func(p *Project) { p.ProductionBranch = "a b" }, false},
		{"branch with colon", func(p *Project) { p.ProductionBranch = "a:b" }, false},
		{"branch .lock", func(p *Project) { p.ProductionBranch = "x.lock" }, false},
		{"branch reflog", func(p *Project) { p.ProductionBranch = "a@{1}" }, false},
		{"long command", func(p *Project) { p.BuildCommand = strings.Repeat("x", 2001) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.modify(&p)
			err := db.CreateProject(t.Context(), &p)
			if tt.ok {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				return
			}
			wantCode(t, "create", err, EINVALID)
			if err != nil && !strings.HasSuffix(ErrorMessage(err), ".") {
				t.Errorf("message %q is not a sentence", ErrorMessage(err))
			}
		})
	}
	// None of the invalid ones was stored.
	list, err := db.Projects(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	valids := 0
	for _, tt := range tests {
		if tt.ok {
			valids++
		}
	}
	if len(list) != valids {
		t.Errorf("%d projects stored, want %d", len(list), valids)
	}
}

func TestUpdateProject(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")

	name, branch, cmd := "Renamed", "develop", "npm run build:prod"
	got, err := db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{Name: &name, ProductionBranch: &branch, BuildCommand: &cmd})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || got.ProductionBranch != branch || got.BuildCommand != cmd || got.GitURL != p.GitURL {
		t.Errorf("after patch: %+v", got)
	}
	if got.Slug != p.Slug {
		t.Errorf("slug changed on rename: %q -> %q (hosts would break)", p.Slug, got.Slug)
	}
	stored, err := db.Project(ctx, u.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Name != name || stored.BuildCommand != cmd {
		t.Errorf("patch not stored: %+v", stored)
	}

	bad := "ftp://x"
	_, err = db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{GitURL: &bad})
	wantCode(t, "invalid patch", err, EINVALID)
	stored, _ = db.Project(ctx, u.ID, p.ID)
	if stored.GitURL != p.GitURL {
		t.Errorf("invalid patch was stored: git_url %q", stored.GitURL)
	}

	if err := db.DeleteProject(ctx, u.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.Project(ctx, u.ID, p.ID)
	wantCode(t, "deleted project", err, ENOTFOUND)
	wantCode(t, "second delete", db.DeleteProject(ctx, u.ID, p.ID), ENOTFOUND)
}

func TestDeleteProjectCascades(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	d := mustDeployment(t, db, p.ID)
	if err := db.SetEnvVar(ctx, u.ID, p.ID, &EnvVar{Key: "K", Target: model.TargetAll, Sealed: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteEvents(ctx, EventBatch{Lines: []LogLine{{DeploymentID: d.ID, Line: 1, Stream: "stdout", Text: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteProject(ctx, u.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"deployments", "env_vars", "deployment_logs"} {
		var n int
		if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows left after deleting the project", table, n)
		}
	}
}

// TestProjectsOldestFirst: the list keeps creation order, also for projects
// created within the same millisecond.
func TestProjectsOldestFirst(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	same := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return same }
	var want []string
	for i := range 6 {
		want = append(want, mustProject(t, db, u.ID, fmt.Sprintf("app%d", i)).ID)
	}
	list, err := db.Projects(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list {
		got = append(got, p.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("same-millisecond projects listed as\n %v\nwant creation order\n %v", got, want)
	}
}

// TestLinkedRepository: the repository id belongs to the repository it was
// recorded for, never comes from a request, and the webhook secret is
// stored only for its owner.
func TestLinkedRepository(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	other := mustUser(t, db, "mallory")
	p := &Project{OwnerID: u.ID, Name: "shop", GitHubRepo: "acme/shop", GitHubRepoID: 111, WebhookSecret: []byte("sealed")}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := db.Project(ctx, u.ID, p.ID)
	if err != nil || got.GitHubRepoID != 111 || string(got.WebhookSecret) != "sealed" {
		t.Fatalf("stored: %+v %v", got, err)
	}

	var patch ProjectPatch
	if err := json.Unmarshal([]byte(`{"github_repo_id": 5, "GitHubRepoID": 5, "webhook_secret": "x"}`), &patch); err != nil {
		t.Fatal(err)
	}
	if patch.GitHubRepoID != nil {
		t.Error("a request sets the repository id")
	}
	same := "ACME/shop"
	if got, _ = db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{GitHubRepo: &same}); got.GitHubRepoID != 111 {
		t.Errorf("the id is lost when only the case changes: %+v", got)
	}
	moved := "acme/other"
	if got, _ = db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{GitHubRepo: &moved}); got.GitHubRepoID != 0 {
		t.Errorf("the id of acme/shop stays with acme/other: %+v", got)
	}

	wantCode(t, "another's project", db.SetWebhookSecret(ctx, other.ID, p.ID, []byte("mine")), ENOTFOUND)
	if err := db.SetWebhookSecret(ctx, u.ID, p.ID, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ = db.Project(ctx, u.ID, p.ID); string(got.WebhookSecret) != "new" {
		t.Errorf("secret after rotation: %q", got.WebhookSecret)
	}
}
