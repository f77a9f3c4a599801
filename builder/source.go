package builder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/berth-dev/berth/internal/netguard"
)

var shaRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Source says which commit to fetch.
type Source struct {
	URL  string
	Ref  string // branch or tag; a 40-hex ref is a commit; empty = the remote's default branch
	SHA  string // exact commit, when known (webhooks, redeploys)
	Auth transport.AuthMethod
	// AllowLocal lets URL be a path or file:// URL on this host (the
	// control plane decided the project may: its owner is an admin, or the
	// operator allows local sources).
	AllowLocal bool
	// Net decides which addresses an http(s) clone may connect to.
	Net netguard.Policy
}

// Commit is what was fetched.
type Commit struct {
	SHA     string
	Message string
	Branch  string
	// Tree is the hash of the commit's tree: the same for two commits with
	// the same files (an empty commit, a merge that changes nothing).
	Tree string
}

// fetchSource clones src into dir on the host, checked out at the exact
// commit. It is shallow when only a branch or tag is asked for. Credentials,
// when any, stay in this process: the container receives only the files.
func fetchSource(ctx context.Context, src Source, dir string) (Commit, error) {
	ctx, err := guardSource(ctx, src)
	if err != nil {
		return Commit{}, err
	}
	sha := src.SHA
	ref := src.Ref
	if sha == "" && shaRe.MatchString(ref) {
		sha, ref = ref, ""
	}
	var repo *git.Repository
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
	return Commit{SHA: c.Hash.String(), Message: firstLine(c.Message), Branch: branch, Tree: c.TreeHash.String()}, nil
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
		var refused *netguard.RefusedError
		if err == nil || isRefNotFound(err) || errors.Is(err, git.NoMatchingRefSpecError{}) || ctx.Err() != nil || errors.As(err, &refused) {
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
	var refused *netguard.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return fmt.Errorf("git_url resolves to %s, %s; berth does not fetch from private networks", refused.IP, refused.Phrase())
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

// guardSource checks where src would be fetched from before anything is
// fetched: a path or file:// URL on this host only when the job allows it,
// http(s) only through the guarded client, with the pool's network policy
// in the returned context; nothing else (ssh, git://).
func guardSource(ctx context.Context, src Source) (context.Context, error) {
	ep, err := transport.NewEndpoint(src.URL)
	if err != nil {
		return ctx, fmt.Errorf("git_url %q is not a URL berth can fetch from", src.URL)
	}
	switch ep.Protocol {
	case "file":
		if !src.AllowLocal {
			return ctx, errors.New("git_url is a path on the berth host; only the administrator may build from local repositories")
		}
		return ctx, nil
	case "http", "https":
		guardGitHTTP.Do(func() {
			client.InstallProtocol("http", guardedGitClient())
			client.InstallProtocol("https", guardedGitClient())
		})
		return netguard.WithPolicy(ctx, src.Net), nil
	}
	return ctx, fmt.Errorf("git_url must be an https:// URL (berth does not fetch over %s)", ep.Protocol)
}

// guardGitHTTP installs, once per process, go-git's http and https client:
// go-git looks its transports up in a process-wide table and takes no client
// per clone. The one installed is the same for every clone; what a clone may
// connect to travels in its context (netguard.WithPolicy), read by the
// dialer on every connection, redirects included.
var guardGitHTTP sync.Once

func guardedGitClient() transport.Transport {
	dialer := netguard.ContextDialer()
	return githttp.NewClient(&http.Client{Transport: &http.Transport{
		// No proxy from the environment: the dialer must see the
		// address of the git server itself.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		// Each clone dials afresh: an idle connection made under one
		// clone's policy must not serve another's.
		DisableKeepAlives: true,
	}})
}
