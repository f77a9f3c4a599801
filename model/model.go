// Package model is berth's shared vocabulary: the words the control plane,
// the builders and the data plane must agree on (deployment states, output
// types, triggers, env var targets), the layout of artifact keys, and the
// additional data each kind of sealed secret is bound to. It imports nothing
// of berth's, so every other package may use it.
package model

// Deployment states: queued -> building -> uploading -> ready | error | cancelled.
const (
	StateQueued    = "queued"
	StateBuilding  = "building"
	StateUploading = "uploading"
	StateReady     = "ready"
	StateError     = "error"
	StateCancelled = "cancelled"
)

// Terminal reports whether state is final.
func Terminal(state string) bool {
	return state == StateReady || state == StateError || state == StateCancelled
}

// KnownState reports whether state is one of the deployment states.
func KnownState(state string) bool {
	switch state {
	case StateQueued, StateBuilding, StateUploading, StateReady, StateError, StateCancelled:
		return true
	}
	return false
}

// Output types: what a build produced and how it is served.
const (
	OutputStatic         = "static"            // files served as they are
	OutputNextStandalone = "nextjs-standalone" // a Node server with its static assets
	OutputNextExport     = "nextjs-export"     // Next.js static export, served as files
	OutputNodeServer     = "node-server"       // a plain Node server run with its start script
	OutputDockerImage    = "docker-image"      // an image built from the project's Dockerfile, run as the server
)

// IsServer reports whether output of this type runs as a server.
func IsServer(outputType string) bool {
	return outputType == OutputNextStandalone || outputType == OutputNodeServer || outputType == OutputDockerImage
}

// Triggers: what asked for a deployment.
const (
	TriggerAPI         = "api"
	TriggerDashboard   = "dashboard"
	TriggerPush        = "push"
	TriggerPullRequest = "pull_request"
	TriggerRedeploy    = "redeploy"
)

// Build scopes: how far a build is trusted, and so which build cache it may
// read and write and which secrets it gets.
const (
	ScopeProduction = "production" // the production branch
	ScopePreview    = "preview"    // other branches of the project's own repository
	ScopeFork       = "fork"       // a pull request from a fork: no secrets, a cache of its own
)

// Env var targets: when a variable is visible.
const (
	TargetBuild   = "build"
	TargetRuntime = "runtime"
	TargetAll     = "all"
)
