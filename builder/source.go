package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

var shaRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Source says which commit to fetch.
type Source struct {
	URL  string
	Ref  string // branch or tag; a 40-hex ref is a commit; empty = the remote's default branch
	SHA  string // exact commit, when known (webhooks, redeploys)
	Auth transport.AuthMethod
}

// Commit is what was fetched.
type Commit struct {
	SHA     string
	Message string
	Branch  string
}

// fetchSource clones src into dir on the host, checked out at the exact
// commit. It is shallow when only a branch or tag is asked for. Credentials,
// when any, stay in this process: the container receives only the files.
func fetchSource(ctx context.Context, src Source, dir string) (Commit, error) {
	sha := src.SHA
	ref := src.Ref
	if sha == "" && shaRe.MatchString(ref) {
		sha, ref = ref, ""
	}
	var repo *git.Repository
	var err error
	var branch string
	switch {
	case ref == "":
		repo, err = clone(ctx, dir, src, plumbing.HEAD, sha == "")
	default:
		branch = ref
		repo, err = clone(ctx, dir, src, plumbing.NewBranchReferenceName(ref), sha == "")
		if errors.Is(err, git.NoMatchingRefSpecError{}) || isRefNotFound(err) {
			branch = ""
			repo, err = clone(ctx, dir, src, plumbing.NewTagReferenceName(ref), sha == "")
			if isRefNotFound(err) || errors.Is(err, git.NoMatchingRefSpecError{}) {
				return Commit{}, fmt.Errorf("branch or tag %q not found in the repository", ref)
			}
		}
	}
	if err != nil {
		return Commit{}, err
	}
	if branch == "" && ref == "" && sha == "" {
		if head, err := repo.Head(); err == nil && head.Name().IsBranch() {
			branch = head.Name().Short()
		}
	}
	if sha != "" {
		wt, err := repo.Worktree()
		if err != nil {
			return Commit{}, fmt.Errorf("open worktree: %w", err)
		}
		if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(sha), Force: true}); err != nil {
			return Commit{}, fmt.Errorf("commit %s not found on %s: %w", short(sha), orDefault(ref), err)
		}
	}
	head, err := repo.Head()
	if err != nil {
		return Commit{}, fmt.Errorf("read HEAD: %w", err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return Commit{}, fmt.Errorf("read commit: %w", err)
	}
	return Commit{SHA: c.Hash.String(), Message: firstLine(c.Message), Branch: branch}, nil
}

// clone tries a shallow clone first when allowed and falls back to a full
// one: some transports (local repositories among them) refuse shallow
// fetches.
func clone(ctx context.Context, dir string, src Source, ref plumbing.ReferenceName, shallow bool) (*git.Repository, error) {
	opts := &git.CloneOptions{
		URL:           src.URL,
		Auth:          src.Auth,
		ReferenceName: ref,
		SingleBranch:  true,
		Tags:          git.NoTags,
	}
	if shallow {
		opts.Depth = 1
		repo, err := git.PlainCloneContext(ctx, dir, false, opts)
		if err == nil || isRefNotFound(err) || errors.Is(err, git.NoMatchingRefSpecError{}) || ctx.Err() != nil {
			return repo, wrapCloneErr(err)
		}
		if err := resetDir(dir); err != nil {
			return nil, err
		}
		opts.Depth = 0
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, opts)
	return repo, wrapCloneErr(err)
}

func wrapCloneErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errors.New("clone repository: the repository needs credentials berth does not have")
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errors.New("clone repository: repository not found")
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return errors.New("clone repository: the repository is empty")
	}
	return fmt.Errorf("clone repository: %w", err)
}

func isRefNotFound(err error) bool {
	return err != nil && (errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref"))
}

func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset source dir: %w", err)
	}
	return os.MkdirAll(dir, 0o755)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func orDefault(ref string) string {
	if ref == "" {
		return "the default branch"
	}
	return ref
}
