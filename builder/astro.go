package builder

// detectAstro is the Astro rule: an app that depends on astro and on
// @astrojs/node is built for the Node adapter's standalone mode, whose
// server is dist/server/entry.mjs (it reads PORT and HOST) beside the
// browser files in dist/client; without the adapter, astro build writes a
// static site to dist/. The adapter's middleware mode, which exports a
// handler for a server of the app's own, is not run: set the project's
// start command for that.
func detectAstro(pkg packageJSON) (*Framework, string) {
	if !pkg.dependsOn("astro") {
		return nil, ""
	}
	if !pkg.dependsOn("@astrojs/node") {
		return nil, "Detected Astro (static, no @astrojs/node): will serve dist/."
	}
	return &Framework{
		Name:    "Astro",
		Adapter: "@astrojs/node",
		Start:   []string{"node", "dist/server/entry.mjs"},
		Entry:   "dist/server/entry.mjs",
		Client:  "dist/client",
		Keep:    []string{"dist"},
		Static:  "dist",
	}, ""
}
