package builder

// detectNuxt recognises a Nuxt app: a dependency on nuxt. `nuxt build`
// (Nitro's default node-server preset) makes .output/, a self-contained
// server (its own trimmed node_modules in .output/server) with its public
// files in .output/public: the artifact is .output alone, run with `node
// server/index.mjs`, and berth serves .output/public itself. `nuxt
// generate` makes only .output/public, served as a static site. It takes
// precedence over the plain Node server rule, since a Nuxt app's start
// script, if any, runs .output/server/index.mjs with the whole project.
func detectNuxt(pkg packageJSON) *NodeServer {
	if !pkg.dependsOn("nuxt") {
		return nil
	}
	return &NodeServer{
		Script: "nuxt",
		Why:    "depends on nuxt",
		Start:  []string{"node", "server/index.mjs"},
		// .output needs nothing from the project's node_modules.
		Prune: "",
		Framework: &frameworkServer{
			Name:   "Nuxt",
			Plan:   "Detected Nuxt: will run `node .output/server/index.mjs` with PORT when the build makes a Node server (`nuxt build`), with berth serving .output/public; or serve .output/public as a static site (`nuxt generate`).",
			Entry:  ".output/server/index.mjs",
			Bundle: ".output",
			Static: ".output/public",
			Pages:  ".output/public",
		},
	}
}
