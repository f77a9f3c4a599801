package builder

import (
	"fmt"
	"strings"
)

// detectReactRouter recognises a React Router v7 app in framework mode: a
// dependency on @react-router/dev, whose `react-router build` makes
// build/server/index.js (the server build) and build/client (the browser's
// files). The server runs with the app's start script, or else
// react-router-serve (from @react-router/serve, a production dependency)
// straight from node_modules; berth serves build/client itself. The
// artifact is the project pruned to production dependencies. A build in
// SPA mode (ssr: false) makes no server build: build/client is served as
// a static site. The rule takes precedence over the plain Node server
// rule and over serving build/ as files, which would publish the server
// build.
func detectReactRouter(pkg packageJSON, prune string) *NodeServer {
	if !pkg.dependsOn("@react-router/dev") {
		return nil
	}
	s := &NodeServer{Why: "depends on @react-router/dev", Prune: prune,
		Framework: &frameworkServer{
			Name:   "React Router",
			Entry:  "build/server/index.js",
			Static: "build/client",
			Pages:  "build/client",
		},
	}
	run := ""
	if script := strings.TrimSpace(pkg.Scripts["start"]); script != "" {
		s.Script = script
		run = fmt.Sprintf(" (start script `%s`)", script)
		// npm runs the start script whichever manager installed the
		// project; see detectNodeServer.
		s.Start = []string{"npm", "start"}
	} else {
		s.Script = "react-router-serve"
		s.Start = []string{"node", "node_modules/@react-router/serve/bin.js", "build/server/index.js"}
	}
	prunes := ""
	if prune != "" {
		prunes = ", after dropping dev dependencies"
	}
	s.Framework.Plan = fmt.Sprintf("Detected React Router (framework mode): will run `%s`%s with PORT when the build makes build/server/index.js, with berth serving build/client%s; or serve build/client as a static site (SPA mode).",
		strings.Join(s.Start, " "), run, prunes)
	return s
}
