package builder

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/berth-dev/berth/internal/netguard"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// maxOutputBytes caps what one build may upload.
const maxOutputBytes = 4 << 30

// handle runs one delivery of a job and settles the message: ack once the
// final event is stored, nak when this process is stopping (the job then runs
// again on the next start).
func (p *Pool) handle(ctx context.Context, job *queue.Job) {
	log := p.log.With(slog.String("deployment", job.DeploymentID))
	em := &emitter{queue: p.queue, deploymentID: job.DeploymentID, log: log, maxLines: p.cfg.LogMaxLines, maxBytes: p.cfg.LogMaxBytes}
	attempt := job.Attempt
	if attempt > p.cfg.MaxAttempts {
		p.finish(job, em, queue.Event{State: model.StateError, Error: fmt.Sprintf(
			"The build was interrupted %d times (berth stopped while it ran) and was given up.", attempt-1)})
		return
	}

	buildCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.mu.Lock()
	p.running[job.DeploymentID] = cancel
	if _, ok := p.early[job.DeploymentID]; ok {
		delete(p.early, job.DeploymentID)
		cancel(errCancelled)
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.running, job.DeploymentID)
		p.mu.Unlock()
	}()

	stopBeat := p.heartbeat(job)
	started := time.Now()
	result, err := p.build(buildCtx, job.BuildJob, attempt, em)
	stopBeat()

	switch {
	case err == nil:
		em.system("Deployment ready in %s.", time.Since(started).Round(100*time.Millisecond))
		p.finish(job, em, result)
	case context.Cause(buildCtx) == errCancelled:
		em.system("Build cancelled.")
		p.finish(job, em, queue.Event{State: model.StateCancelled, Error: "Cancelled."})
	case buildCtx.Err() != nil:
		em.system("This worker is stopping; the build goes back to the queue and runs again.")
		if err := job.Nak(); err != nil {
			log.Warn("hand back build job", slog.Any("error", err))
		}
	default:
		log.Info("build failed", slog.Any("error", err))
		err = explainStorage(err, p.cfg.WorkDir)
		em.system("Error: %s", err)
		p.finish(job, em, queue.Event{State: model.StateError, Error: err.Error()})
	}
}

// finish publishes the final state and only then acks the job.
func (p *Pool) finish(job *queue.Job, em *emitter, ev queue.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := em.state(ctx, ev); err != nil {
		em.log.Error("publish final state; the job will be retried", slog.Any("error", err))
		job.Nak()
		return
	}
	if err := job.Ack(); err != nil {
		em.log.Warn("ack build job", slog.Any("error", err))
	}
}

// heartbeat keeps the job from being redelivered while it runs.
func (p *Pool) heartbeat(job *queue.Job) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				job.InProgress()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// build runs the pipeline and returns the "ready" event to publish.
func (p *Pool) build(ctx context.Context, job queue.BuildJob, attempt int, em *emitter) (queue.Event, error) {
	if err := em.state(ctx, queue.Event{State: model.StateBuilding, Attempt: attempt}); err != nil {
		return queue.Event{}, err
	}
	if p.cfg.ID != "" {
		em.system("Built by worker %s on %s.", p.cfg.ID, p.cfg.Host)
	}
	if attempt > 1 {
		em.system("Attempt %d of %d: the previous run stopped before it finished.", attempt, p.cfg.MaxAttempts)
	}
	work, err := os.MkdirTemp(p.cfg.WorkDir, "build-")
	if err != nil {
		return queue.Event{}, fmt.Errorf("create work dir: %w", err)
	}
	defer p.later(func() { os.RemoveAll(work) })

	src := filepath.Join(work, "src")
	ref := job.Ref
	if ref == "" && job.CommitSHA != "" {
		ref = job.CommitSHA
	}
	em.system("Cloning %s at %s", job.GitURL, orDefault(ref))
	auth, err := p.gitAuth(job)
	if err != nil {
		return queue.Event{}, err
	}
	commit, err := fetchSource(ctx, Source{URL: job.GitURL, Ref: job.Ref, SHA: job.CommitSHA, Auth: auth,
		AllowLocal: job.AllowLocal, Net: netguard.Policy{Allow: p.cfg.GitAllowNets}}, src)
	if err != nil {
		return queue.Event{}, err
	}
	em.system("Commit %s: %s", short(commit.SHA), commit.Message)
	if err := em.state(ctx, queue.Event{State: model.StateBuilding, Attempt: attempt, CommitSHA: commit.SHA, CommitMessage: commit.Message}); err != nil {
		return queue.Event{}, err
	}

	env, err := p.openEnv(job)
	if err != nil {
		return queue.Event{}, err
	}
	// The host reads the clone only through roots: links in the repository
	// may not lead out of it.
	repo, err := os.OpenRoot(src)
	if err != nil {
		return queue.Event{}, fmt.Errorf("open the clone: %w", err)
	}
	defer repo.Close()
	projectDir, err := openProjectDir(repo, job.RootDir)
	if err != nil {
		return queue.Event{}, err
	}
	defer projectDir.Close()
	if dockerfile, err := dockerfileFor(projectDir, job); err != nil {
		return queue.Event{}, err
	} else if dockerfile != "" {
		return p.buildDockerfile(ctx, job, src, dockerfile, env, em)
	}
	lockDir, installDir, err := openInstallDir(repo, job.RootDir)
	if err != nil {
		return queue.Event{}, err
	}
	defer lockDir.Close()
	cmds, err := detectWorkspaceCommands(projectDir, lockDir, installDir)
	if err != nil {
		return queue.Event{}, err
	}
	if cmds.InstallDir != "" {
		em.system("Workspace: installing at %s (its lock file), building in %s.", path.Join("/", path.Join(job.RootDir, cmds.InstallDir)), path.Join("/", job.RootDir))
	}
	if job.InstallCommand != "" {
		cmds.Install = job.InstallCommand
		cmds.ReusableModules = false // an install of its own may not be npm's
	}
	if job.BuildCommand != "" {
		cmds.Build = job.BuildCommand
	}
	if job.StartCommand != "" {
		cmds.Server = startCommandServer(job.StartCommand, cmds.Prune)
	}
	if job.OutputDir != "" {
		cmds.Server = nil // the project serves that folder
	}
	if cmds.Server == nil && cmds.NotServer != "" && job.OutputDir == "" {
		em.system("%s", cmds.NotServer)
	}
	if cmds.Server != nil {
		em.system("%s", cmds.Server.describe())
		// Its node_modules is pruned after the build: not one the next
		// build's install may start from.
		cmds.ReusableModules = false
	}

	inputs, err := p.inputsKey(ctx, job, commit, cmds, env)
	if err != nil {
		return queue.Event{}, err
	}
	if from, ok := p.reusable(ctx, job, inputs, em); ok {
		em.system("Reusing the build of deployment %s (same tree %s, same settings).", from, short(commit.Tree))
		return queue.Event{State: model.StateReady, InputsKey: inputs, ReusedFrom: from}, nil
	}

	workdir := path.Join("/workspace", job.RootDir)
	cache := p.restoreCache(ctx, job, lockDir, workdir, env, cmds.ReusableModules, em)
	defer cache.close()
	if cache.has("node_modules") && cmds.Install == "npm ci" && !cmds.InstallScripts {
		// npm ci would delete node_modules and make the same one again
		// from the same lock file.
		em.system("Install: skipped; node_modules is the one npm ci made from this lock file in the last build.")
		cmds.Install = ""
	}
	if cmds.UsesNext && env[nextActionsKey] == "" && p.secrets != nil {
		// Next.js makes a new random key per build inside a container,
		// and its build cache (.next/cache) is only valid for the key it
		// was made with. A stable key per project keeps the cache valid.
		key, err := p.secrets.Derive(nextActionsInfo(job), 32)
		if err != nil {
			return queue.Event{}, fmt.Errorf("derive the server actions key: %w", err)
		}
		env[nextActionsKey] = base64.StdEncoding.EncodeToString(key)
	}
	containerID, err := p.runBuild(ctx, job, commit, src, cmds, env, cache.copyIns(), em)
	if containerID != "" {
		defer p.finishLater(ctx, cache, containerID, err == nil)
	}
	if err != nil {
		return queue.Event{}, err
	}

	if err := em.state(ctx, queue.Event{State: model.StateUploading}); err != nil {
		return queue.Event{}, err
	}
	out, err := detectOutput(ctx, p.sb, containerID, workdir, job.OutputDir, cmds.Server)
	if err != nil {
		return queue.Event{}, err
	}
	if out.Note != "" {
		em.system("%s", out.Note)
	}
	if note := workspaceServer(&out, cmds.InstallDir, workdir); note != "" {
		em.system("%s", note)
	}
	em.system("Output: %s (%s)", out.Dir, out.Type)
	prefix := model.ArtifactPrefix(job.DeploymentID)
	if err := p.upload(ctx, containerID, out, filepath.Join(work, "out"), prefix, em); err != nil {
		err = explainStorage(err, p.cfg.WorkDir) // measures the free space before the partial upload goes
		p.dropPartial(ctx, prefix)
		return queue.Event{}, err
	}
	return queue.Event{State: model.StateReady, OutputType: out.Type, ArtifactKey: prefix, InputsKey: inputs}, nil
}

// nextActionsInfo names the derived server actions key of a job: one per
// project, and another for builds of forks, whose authors can read
// everything their build is given.
func nextActionsInfo(job queue.BuildJob) string {
	if job.Scope == model.ScopeFork {
		return "berth/next-server-actions/" + job.ProjectID + "/fork"
	}
	return "berth/next-server-actions/" + job.ProjectID
}

// nextActionsKey is the variable Next.js reads its server actions
// encryption key from.
const nextActionsKey = "NEXT_SERVER_ACTIONS_ENCRYPTION_KEY"

// gitAuth opens the job's clone token, if any. It authenticates go-git on
// the host; the container never sees it.
func (p *Pool) gitAuth(job queue.BuildJob) (transport.AuthMethod, error) {
	if len(job.GitToken) == 0 {
		return nil, nil
	}
	if p.secrets == nil {
		return nil, errors.New("this worker has no secret key to open the clone token")
	}
	token, err := p.secrets.Open(job.GitToken, model.GitTokenAAD(job.DeploymentID))
	if err != nil {
		return nil, fmt.Errorf("open clone token: %w", err)
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: string(token)}, nil
}

func (p *Pool) openEnv(job queue.BuildJob) (map[string]string, error) {
	env := map[string]string{}
	if len(job.Env) == 0 {
		return env, nil
	}
	if p.secrets == nil {
		return nil, errors.New("this worker has no secret key to open the build's environment variables")
	}
	plain, err := p.secrets.Open(job.Env, []byte(job.DeploymentID))
	if err != nil {
		return nil, fmt.Errorf("open build environment: %w", err)
	}
	if err := json.Unmarshal(plain, &env); err != nil {
		return nil, fmt.Errorf("decode build environment: %w", err)
	}
	return env, nil
}

// copyFile opens path for a tar stream; a helper for the CA bundle.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
