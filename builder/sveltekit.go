package builder

// detectSvelteKit is the SvelteKit rule: an app that depends on
// @sveltejs/kit and @sveltejs/adapter-node is a server run with `node
// build` (build/index.js reads PORT and HOST) beside its browser files in
// build/client; with @sveltejs/adapter-static, build/ is a static site.
// adapter-auto, the starter's default, writes no output berth can deploy.
func detectSvelteKit(pkg packageJSON) (*Framework, string) {
	if !pkg.dependsOn("@sveltejs/kit") {
		return nil, ""
	}
	if pkg.dependsOn("@sveltejs/adapter-node") {
		return &Framework{
			Name:    "SvelteKit",
			Adapter: "adapter-node",
			Start:   []string{"node", "build"},
			Entry:   "build/index.js",
			Client:  "build/client",
			Keep:    []string{"build"},
			Static:  "build",
			// Behind berth's proxy the request's scheme and the visitor's
			// address are in the headers it sets (client-sent ones are
			// dropped); without them adapter-node takes every request for
			// https, refusing form posts over http as cross-site, and
			// every visitor for the proxy.
			Env: []string{"PROTOCOL_HEADER=x-forwarded-proto", "HOST_HEADER=x-forwarded-host", "ADDRESS_HEADER=x-forwarded-for", "XFF_DEPTH=1"},
		}, ""
	}
	if pkg.dependsOn("@sveltejs/adapter-static") {
		return nil, "Detected SvelteKit (adapter-static): will serve build/."
	}
	return nil, "Detected SvelteKit with neither @sveltejs/adapter-node nor @sveltejs/adapter-static: " +
		"berth serves build/ if the build writes it; adapter-auto writes nothing berth can run, so use one of the two in svelte.config.js."
}
