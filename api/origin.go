package api

import (
	"net/http"

	"github.com/berth-dev/berth/store"
)

// newOriginCheck refuses requests that browsers mark as sent by another
// site: Sec-Fetch-Site cross-site or same-site (a deployed site on a
// sibling subdomain is exactly the attacker), or, from browsers that do
// not send Sec-Fetch-Site, an Origin that is neither the request's own
// host nor the public URL's origin. Requests with neither header (curl,
// API clients) pass, and are left to the CSRF token and bearer tokens.
func newOriginCheck(public string) (*http.CrossOriginProtection, error) {
	p := http.NewCrossOriginProtection()
	if err := p.AddTrustedOrigin(public); err != nil {
		return nil, err
	}
	return p, nil
}

// sameOrigin checks a request that changes something on behalf of a
// browser session (or starts one) with the origin check.
func (s *Handler) sameOrigin(r *http.Request) error {
	if err := s.origins.Check(r); err != nil {
		return store.Errorf(store.EFORBIDDEN,
			"This request came from another site, and berth accepts changes only from its own pages; open berth at %s and try again.", s.public)
	}
	return nil
}
