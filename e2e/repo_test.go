package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// fixture returns the path of a template inside the unpacked npm fixtures.
func fixture(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(os.Getenv("BERTH_TEST_FIXTURES"), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s missing (scripts/fixtures.sh unpacks it): %v", rel, err)
	}
	return p
}

// makeRepo copies a template into a new git repository with one commit on
// main and returns its path. create-* templates ship "_gitignore" because
// npm drops .gitignore files; it is renamed back as the CLI would.
func makeRepo(t *testing.T, template string) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir(template, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(template, p)
		if d.Name() == "_gitignore" {
			rel = filepath.Join(filepath.Dir(rel), ".gitignore")
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "Initial commit from template", true)
	return dir
}

// commitAll commits every file in dir (initialising the repository on main
// when init is set) and returns the commit hash.
func commitAll(t *testing.T, dir, msg string, init bool) string {
	t.Helper()
	var repo *git.Repository
	var err error
	if init {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{
			InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"},
		})
	} else {
		repo, err = git.PlainOpen(dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "Test", Email: "test@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// gitCheckoutNew creates branch from HEAD and checks it out.
func gitCheckoutNew(t *testing.T, dir, branch string) {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true}); err != nil {
		t.Fatal(err)
	}
}
