package queue

import (
	"time"
)

// Streams, consumers and subjects.
const (
	StreamBuilds     = "BUILDS"
	ConsumerBuilders = "builders"
	SubjectBuildJobs = "builds.jobs." // + deployment id
	StreamEvents     = "EVENTS"
	ConsumerStore    = "store"
	SubjectEvents    = "deploy.events." // + deployment id
	SubjectCancel    = "deploy.cancel." // + deployment id (core NATS, not persisted)
)

// BuildJob asks a worker to build one deployment. It carries everything the
// worker needs, since a worker has no database.
type BuildJob struct {
	DeploymentID   string `json:"deployment_id"`
	ProjectID      string `json:"project_id"`
	GitURL         string `json:"git_url"`
	Ref            string `json:"ref,omitempty"`
	CommitSHA      string `json:"commit_sha,omitempty"`
	RootDir        string `json:"root_dir,omitempty"`
	InstallCommand string `json:"install_command,omitempty"`
	BuildCommand   string `json:"build_command,omitempty"`
	OutputDir      string `json:"output_dir,omitempty"`
	StartCommand   string `json:"start_command,omitempty"`
	DockerfilePath string `json:"dockerfile_path,omitempty"`
	Port           int    `json:"port,omitempty"`
	// AllowLocal lets GitURL be a path or file:// URL on the worker's host:
	// the project's owner is an admin or the operator allows local sources.
	// Without it a worker refuses such a URL.
	AllowLocal bool `json:"allow_local,omitempty"`
	// Env is the build-time environment, JSON-encoded and sealed with the
	// instance's secret key (bound to the deployment id), so no secret is
	// written in clear to the JetStream store.
	Env []byte `json:"env,omitempty"`
	// GitToken, when set, is the sealed token (bound by model.GitTokenAAD) the
	// worker clones with. It is used on the host only.
	GitToken []byte `json:"git_token,omitempty"`
	// Scope is how far the build is trusted (model.ScopeProduction, …):
	// it decides the build cache it may read and write.
	Scope string `json:"scope,omitempty"`
	// Labels are the worker labels the project requires (model.WorkerLabels):
	// only a worker that has all of them takes the job.
	Labels []string `json:"labels,omitempty"`
	// Reuse lists the project's builds this one may reuse: when the
	// worker's inputs key equals one's, it reports that deployment instead
	// of building. Empty for forks and for builds from scratch.
	Reuse    []ReuseCandidate `json:"reuse,omitempty"`
	QueuedAt time.Time        `json:"queued_at"`
}

// ReuseCandidate is a ready build of the same project and what it was made
// from.
type ReuseCandidate struct {
	DeploymentID string `json:"deployment_id"`
	InputsKey    string `json:"inputs_key"`
	// ArtifactKey is where its files are, for the worker to check they
	// are still stored; the control plane never takes it from the worker.
	ArtifactKey string `json:"artifact_key"`
}

// Event kinds.
const (
	KindLog   = "log"
	KindState = "state"
)

// Event is one log line or state change of a deployment. Both travel on the
// deployment's one subject, so their order is kept.
type Event struct {
	DeploymentID string    `json:"d"`
	Kind         string    `json:"k"`
	At           time.Time `json:"t"`
	// Log lines.
	Stream string `json:"s,omitempty"`
	Text   string `json:"x,omitempty"`
	// State changes.
	State         string `json:"state,omitempty"`
	Attempt       int    `json:"attempt,omitempty"`
	CommitSHA     string `json:"commit_sha,omitempty"`
	CommitMessage string `json:"commit_message,omitempty"`
	OutputType    string `json:"output_type,omitempty"`
	ArtifactKey   string `json:"artifact_key,omitempty"`
	Error         string `json:"error,omitempty"`
	// InputsKey (on "ready") identifies what the build was made from.
	InputsKey string `json:"inputs_key,omitempty"`
	// ReusedFrom (on "ready", with no artifact key) names the deployment
	// whose build this one serves; the control plane checks it and takes
	// the artifact key from its own records.
	ReusedFrom string `json:"reused_from,omitempty"`
}
