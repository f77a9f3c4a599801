package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// settleDomains folds the old BERTH_BASE_DOMAIN into the apps domain,
// checks the public URL and refuses a dashboard that deployed sites could
// reach with cookies.
func (c *Config) settleDomains() error {
	app := normalDomain(c.AppDomain)
	old := normalDomain(c.baseDomain)
	switch {
	case app != "" && old != "" && app != old:
		return fmt.Errorf("BERTH_APP_DOMAIN is %s but BERTH_BASE_DOMAIN (its old name) is %s: set only BERTH_APP_DOMAIN", app, old)
	case app == "":
		app = old
	}
	if app == "" {
		app = "localhost"
	}
	c.AppDomain, c.baseDomain = app, ""

	// Without a public URL, berth prints http://<apps domain>:<port>.
	dashboard := app
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return fmt.Errorf("BERTH_PUBLIC_URL %q is not a URL such as https://berth.example.com", c.PublicURL)
		}
		dashboard = normalDomain(u.Hostname())
	}
	return dashboardApart(dashboard, app)
}

func normalDomain(d string) string { return strings.ToLower(strings.Trim(strings.TrimSpace(d), ".")) }

// dashboardApart refuses a dashboard host that is the apps domain, lies
// under it or shares its registrable domain: a deployed site could then
// set cookies the dashboard reads (a session cookie of the attacker's
// account, so the victim types secrets into it) and its requests would
// count as same-site.
//
// The laptop default is the exception: apps under localhost and the
// dashboard on localhost itself. Browsers take localhost for a public
// suffix (Chrome and Firefox ignore Domain=localhost on a cookie from
// x.localhost, and each x.localhost is a site of its own), and berth
// removes such Domain attributes from what apps answer.
func dashboardApart(dashboard, app string) error {
	if dashboard == "localhost" && app == "localhost" {
		return nil
	}
	if net.ParseIP(dashboard) != nil {
		return nil // an address is no domain's subdomain
	}
	why := "a deployed site could then set cookies on the dashboard and sign its visitors in to an account of the attacker's choosing. " +
		"Serve deployments from a domain of their own, as GitHub serves pages from github.io beside github.com: " +
		"for example BERTH_APP_DOMAIN=example-apps.com with BERTH_PUBLIC_URL=https://berth.example.com"
	if dashboard == app || strings.HasSuffix(dashboard, "."+app) {
		return fmt.Errorf("the dashboard's host %s (BERTH_PUBLIC_URL) is the apps domain %s or under it (BERTH_APP_DOMAIN): %s", dashboard, app, why)
	}
	d, errD := publicsuffix.EffectiveTLDPlusOne(dashboard)
	a, errA := publicsuffix.EffectiveTLDPlusOne(app)
	if errD == nil && errA == nil && d == a {
		return fmt.Errorf("the dashboard's host %s (BERTH_PUBLIC_URL) and the apps domain %s (BERTH_APP_DOMAIN) share the registrable domain %s: %s", dashboard, app, d, why)
	}
	return nil
}
