package builder

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// inputsVersion changes when berth builds the same inputs differently
// (a new artifact layout, another pruning): builds made before are then
// not reused.
const inputsVersion = 2

// buildInputs is everything a build's output follows from. Two builds of a
// project with the same inputs make the same artifact, so the second may
// serve the first's.
type buildInputs struct {
	Version int    `json:"v"`
	Tree    string `json:"tree"` // the tree, not the commit: an empty commit changes nothing
	RootDir string `json:"root_dir"`
	// EnvHash stands for the build env vars: their values never leave
	// this process, not even inside the key (which is keyed besides).
	EnvHash string `json:"env"`
	Image   string `json:"image"` // the engine's content-addressed id
	// The project's settings and the commands berth runs.
	InstallCommand string   `json:"install_command"`
	BuildCommand   string   `json:"build_command"`
	StartCommand   string   `json:"start_command"`
	OutputDir      string   `json:"output_dir"`
	Install        string   `json:"install"`
	Build          string   `json:"build"`
	Prune          string   `json:"prune"`
	Start          []string `json:"start"`
}

// hashEnv digests the build env in a fixed order.
func hashEnv(env map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		// Lengths first: no two different envs give the same stream.
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(env[k]), env[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// key is the inputs key of in: an HMAC under a key derived per project, so equal inputs of two projects never match and the key
// tells nothing of the env to whoever reads it.
func (in buildInputs) key(secret []byte) string {
	data, _ := json.Marshal(in) // plain strings: cannot fail
	m := hmac.New(sha256.New, secret)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// inputsSecret is the HMAC key of projectID's inputs keys.
func (p *Pool) inputsSecret(projectID string) ([]byte, error) {
	purpose := "berth/build-inputs/" + projectID
	if p.secrets == nil {
		// Without a secret key a worker has no build env to hide either.
		sum := sha256.Sum256([]byte(purpose))
		return sum[:], nil
	}
	k, err := p.secrets.Derive(purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the inputs key: %w", err)
	}
	return k, nil
}

// inputsKey computes the job's inputs key once the source is cloned and the
// commands are known; "" for a fork's build, which never reuses a build
// nor leaves one to reuse.
func (p *Pool) inputsKey(ctx context.Context, job queue.BuildJob, commit Commit, cmds Commands, env map[string]string) (string, error) {
	if job.Scope == model.ScopeFork || commit.Tree == "" {
		return "", nil
	}
	if err := p.sb.EnsureImage(ctx, p.cfg.Image); err != nil {
		return "", err
	}
	image, err := p.sb.ImageID(ctx, p.cfg.Image)
	if err != nil {
		return "", err
	}
	in := buildInputs{Version: inputsVersion, Tree: commit.Tree, RootDir: job.RootDir, EnvHash: hashEnv(env), Image: image,
		InstallCommand: job.InstallCommand, BuildCommand: job.BuildCommand, StartCommand: job.StartCommand, OutputDir: job.OutputDir,
		Install: cmds.Install, Build: cmds.Build, Prune: cmds.Prune}
	if cmds.Server != nil {
		in.Start = cmds.Server.Start
	}
	secret, err := p.inputsSecret(job.ProjectID)
	if err != nil {
		return "", err
	}
	return in.key(secret), nil
}

// reusable returns the job's candidate build with the same inputs key whose
// files are still stored (the newest first, as the job lists them).
func (p *Pool) reusable(ctx context.Context, job queue.BuildJob, key string, em *emitter) (string, bool) {
	if key == "" || job.Scope == model.ScopeFork {
		return "", false
	}
	for _, c := range job.Reuse {
		if c.InputsKey != key || c.DeploymentID == job.DeploymentID || c.ArtifactKey == "" {
			continue
		}
		if _, err := p.store.Stat(ctx, c.ArtifactKey+model.ManifestName); err != nil {
			em.system("The build of deployment %s was made from the same inputs, but its files are not in the artifact store: building again.", c.DeploymentID)
			continue
		}
		return c.DeploymentID, true
	}
	return "", false
}
