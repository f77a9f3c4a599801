package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
	// Env is the build-time environment, JSON-encoded and sealed with the
	// instance's secret key (bound to the deployment id), so no secret is
	// written in clear to the JetStream store.
	Env []byte `json:"env,omitempty"`
	// GitToken, when set, is the sealed token (bound by model.GitTokenAAD) the
	// worker clones with. It is used on the host only.
	GitToken []byte    `json:"git_token,omitempty"`
	QueuedAt time.Time `json:"queued_at"`
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
}

// PublishJob enqueues job durably. The deployment id is the message id, so a
// retried publish within the dedup window is dropped by JetStream.
func PublishJob(ctx context.Context, js jetstream.JetStream, job BuildJob) error {
	data, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("encode build job: %w", err)
	}
	if _, err := js.Publish(ctx, SubjectBuildJobs+job.DeploymentID, data, jetstream.WithMsgID(job.DeploymentID)); err != nil {
		return fmt.Errorf("publish build job: %w", err)
	}
	return nil
}

// JobPending reports whether deploymentID's job is still in the builds
// stream (not yet acknowledged by a worker).
func JobPending(ctx context.Context, js jetstream.JetStream, deploymentID string) (bool, error) {
	s, err := js.Stream(ctx, StreamBuilds)
	if err != nil {
		return false, fmt.Errorf("open builds stream: %w", err)
	}
	_, err = s.GetLastMsgForSubject(ctx, SubjectBuildJobs+deploymentID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up build job: %w", err)
	}
	return true, nil
}

// PublishEvent appends ev to its deployment's event subject and waits for
// JetStream to store it.
func PublishEvent(ctx context.Context, js jetstream.JetStream, ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := js.Publish(ctx, SubjectEvents+ev.DeploymentID, data); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}

// PublishEventAsync appends ev without waiting; a later PublishEvent on the
// same connection is stored after it.
func PublishEventAsync(js jetstream.JetStream, ev Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := js.PublishAsync(SubjectEvents+ev.DeploymentID, data); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	return nil
}
