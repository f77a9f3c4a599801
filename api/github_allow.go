package api

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v84/github"

	"github.com/berth-dev/berth/store"
)

// How long GitHub's answer about a user's organisations is trusted by
// default. A removal from an allowed organisation takes effect within the
// TTL; a refusal (or a GitHub that did not answer) is asked again sooner.
const (
	orgAllowTTL = 5 * time.Minute
	orgDenyTTL  = time.Minute
)

// orgCache remembers, per user id, whether the user belongs to an allowed
// organisation.
type orgCache struct {
	allowTTL, denyTTL time.Duration

	mu sync.Mutex
	m  map[string]orgVerdict
}

type orgVerdict struct {
	ok    bool
	until time.Time
}

func newOrgCache(ttl time.Duration) *orgCache {
	if ttl <= 0 {
		ttl = orgAllowTTL
	}
	return &orgCache{allowTTL: ttl, denyTTL: min(ttl, orgDenyTTL), m: map[string]orgVerdict{}}
}

func (o *orgCache) get(userID string, now time.Time) (ok, found bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, found := o.m[userID]
	if !found || !now.Before(v.until) {
		return false, false
	}
	return v.ok, true
}

func (o *orgCache) set(userID string, ok bool, now time.Time) {
	ttl := o.denyTTL
	if ok {
		ttl = o.allowTTL
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, v := range o.m { // expired verdicts go, so the map stays the size of the active users
		if !now.Before(v.until) {
			delete(o.m, id)
		}
	}
	o.m[userID] = orgVerdict{ok: ok, until: now.Add(ttl)}
}

func (o *orgCache) forget(userID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, userID)
}

func allowedLogin(users []string, login string) bool {
	return slices.ContainsFunc(users, func(u string) bool { return strings.EqualFold(u, login) })
}

// memberOfAllowedOrg asks GitHub (as the user) whether they belong to an
// organisation of BERTH_ALLOWED_GITHUB_ORGS.
func (s *Handler) memberOfAllowedOrg(ctx context.Context, client *github.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	mine, _, err := client.Organizations.List(ctx, "", &github.ListOptions{PerPage: 100})
	if err != nil {
		return false, err
	}
	for _, o := range mine {
		if slices.ContainsFunc(s.cfg.GitHub.AllowedOrgs, func(want string) bool { return strings.EqualFold(want, o.GetLogin()) }) {
			return true, nil
		}
	}
	return false, nil
}

// stillAllowed applies the GitHub allow lists again on every request of a
// GitHub user, not only at sign-in: the users list each time (it is in the
// config), organisation membership as GitHub answered it within the last
// few minutes.
func (s *Handler) stillAllowed(ctx context.Context, u *store.User) error {
	users, orgs := s.cfg.GitHub.AllowedUsers, s.cfg.GitHub.AllowedOrgs
	if u == nil || u.GitHubID == 0 || (len(users) == 0 && len(orgs) == 0) {
		return nil
	}
	if allowedLogin(users, u.GitHubLogin) {
		return nil
	}
	if len(orgs) > 0 && s.inAllowedOrg(ctx, u) {
		return nil
	}
	return store.Errorf(store.EFORBIDDEN, "Your GitHub account may no longer use this berth.")
}

func (s *Handler) inAllowedOrg(ctx context.Context, u *store.User) bool {
	now := time.Now()
	if ok, found := s.orgs.get(u.ID, now); found {
		return ok
	}
	ok := false
	if token := s.deps.Deploys.UserGitHubToken(ctx, u.ID); token != "" {
		member, err := s.memberOfAllowedOrg(ctx, s.githubClient(ctx, token))
		ok = err == nil && member
	}
	s.orgs.set(u.ID, ok, now)
	return ok
}
