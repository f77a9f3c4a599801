package deploys

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// Deploy inserts d as queued and publishes its build job. If the job cannot
// be queued the deployment fails at once with the reason: nothing is left
// queued with no job behind it.
func (l *Lifecycle) Deploy(ctx context.Context, ownerID string, p *store.Project, d *store.Deployment) (*store.Deployment, error) {
	if d.Ref == "" && d.CommitSHA == "" {
		d.Ref = p.ProductionBranch
	}
	if d.Branch == "" && !IsSHA(d.Ref) {
		d.Branch = d.Ref
	}
	if d.GitURL == "" {
		d.GitURL = l.CloneURL(p)
	}
	if d.GitURL == "" {
		return nil, store.Errorf(store.EINVALID, "The project has no git_url or github_repo to build from.")
	}
	if err := l.checkQuota(ctx, ownerID); err != nil {
		return nil, err
	}
	if err := l.db.CreateDeployment(ctx, d); err != nil {
		return nil, err
	}
	l.tell(ctx, Change{Kind: Queued, ProjectID: p.ID, DeploymentIDs: []string{d.ID}, Deployment: d})
	if err := l.dispatch(ctx)[d.ID]; err != nil {
		return nil, err
	}
	return d, nil
}

// Redeploy builds old's commit again as a new deployment of ownerID's
// project: from scratch (how users pick up new build-time data) unless
// reuse is asked for.
func (l *Lifecycle) Redeploy(ctx context.Context, ownerID string, old *store.Deployment, reuse bool) (*store.Deployment, error) {
	p, err := l.db.Project(ctx, ownerID, old.ProjectID)
	if err != nil {
		return nil, err
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: old.Ref, Branch: old.Branch, CommitSHA: old.CommitSHA,
		CommitMessage: old.CommitMessage, GitURL: old.GitURL, Trigger: model.TriggerRedeploy, Fork: old.Fork,
		Rebuild: !reuse}
	return l.Deploy(ctx, ownerID, p, d)
}

func (l *Lifecycle) enqueue(ctx context.Context, ownerID string, p *store.Project, d *store.Deployment) error {
	job := queue.BuildJob{
		DeploymentID: d.ID, ProjectID: p.ID, GitURL: d.GitURL, Ref: d.Ref, CommitSHA: d.CommitSHA,
		RootDir: p.RootDir, InstallCommand: p.InstallCommand, BuildCommand: p.BuildCommand, OutputDir: p.OutputDir,
		StartCommand: p.StartCommand, DockerfilePath: p.DockerfilePath, Port: p.Port, QueuedAt: d.CreatedAt, Scope: buildScope(p, d), AllowLocal: l.allowLocal(ctx, ownerID),
		Labels: p.WorkerLabels, Reuse: l.reuseCandidates(ctx, d),
	}
	if d.Fork {
		// A fork's author controls what the build runs: it gets no
		// secret of the project, and no token to clone with (forks
		// of public repositories are public).
		return l.publishJob(ctx, job)
	}
	env, err := l.sealedBuildEnv(ctx, ownerID, p.ID, d.ID)
	if err != nil {
		return err
	}
	job.Env = env
	// The token goes only to GitHub's own clone URL, sealed; the worker
	// uses it on the host and never hands it to the container.
	if strings.HasPrefix(d.GitURL, l.cfg.GitHubURL+"/") {
		if token := l.RepoToken(ctx, ownerID); token != "" {
			job.GitToken = l.cfg.JobSecrets.Seal([]byte(token), model.GitTokenAAD(d.ID))
		}
	}
	return l.publishJob(ctx, job)
}

// buildScope is how far d's build is trusted: production-branch builds
// (whatever triggered them), other branches of the project's repository,
// and forks.
func buildScope(p *store.Project, d *store.Deployment) string {
	switch {
	case d.Fork:
		return model.ScopeFork
	case d.Branch != "" && d.Branch == p.ProductionBranch:
		return model.ScopeProduction
	default:
		return model.ScopePreview
	}
}

// allowLocal reports whether ownerID's builds may fetch from the builder's
// own disk: the owner is an administrator, or the operator allows it for
// everyone. A URL stored before that rule, or by an owner who is no longer
// an administrator, is refused by the builder.
func (l *Lifecycle) allowLocal(ctx context.Context, ownerID string) bool {
	if l.cfg.AllowLocalGit {
		return true
	}
	u, err := l.db.UserByID(ctx, ownerID)
	return err == nil && u.IsAdmin
}

// Cancel marks d cancelled and tells the worker holding its job to stop.
func (l *Lifecycle) Cancel(ctx context.Context, d *store.Deployment) error {
	if model.Terminal(d.State) {
		return store.Errorf(store.ECONFLICT, "The deployment already finished (%s).", d.State)
	}
	t := store.Transition{To: model.StateCancelled, At: time.Now(), Error: "Cancelled."}
	ok, err := l.db.ApplyTransition(ctx, d.ID, t)
	if err != nil {
		return err
	}
	if !ok {
		return store.Errorf(store.ECONFLICT, "The deployment finished before it could be cancelled.")
	}
	l.publishCancel(d.ID)
	l.broker.publish(d.ID, Update{State: t.To, Error: t.Error})
	l.tell(ctx, Change{Kind: Applied, ProjectID: d.ProjectID, DeploymentIDs: []string{d.ID},
		Transition: store.DeploymentTransition{DeploymentID: d.ID, Transition: t}})
	l.dispatch(ctx) // a slot may have freed
	return nil
}

func (l *Lifecycle) publishCancel(deploymentID string) {
	if err := l.queue.PublishCancel(deploymentID); err != nil {
		l.log.Warn("publish cancel", slog.String("deployment", deploymentID), slog.Any("error", err))
	}
}

// RetirePullRequest stops serving the previews of a closed pull request and
// returns how many there were.
func (l *Lifecycle) RetirePullRequest(ctx context.Context, projectID string, number int) (int, error) {
	ids, err := l.db.RetirePRDeployments(ctx, projectID, number)
	if err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		l.tell(ctx, Change{Kind: Retired, ProjectID: projectID, DeploymentIDs: ids})
	}
	return len(ids), nil
}

// DeleteProject deletes ownerID's project, stops its running builds and
// tells observers, who free its deployments' artifacts and caches.
func (l *Lifecycle) DeleteProject(ctx context.Context, ownerID string, p *store.Project) error {
	ids, err := l.db.DeploymentIDs(ctx, ownerID, p.ID)
	if err != nil {
		return err
	}
	if err := l.db.DeleteProject(ctx, ownerID, p.ID); err != nil {
		return err
	}
	for _, id := range ids {
		l.publishCancel(id) // a worker building one stops; for the others it is a no-op
	}
	// Observers hear of it even without deployments: the project's custom
	// domains went with it.
	l.tell(ctx, Change{Kind: Deleted, ProjectID: p.ID, DeploymentIDs: ids})
	if len(ids) > 0 {
		l.dispatch(ctx) // its builds' slots are free
	}
	return nil
}

// applied follows up a stored state change: observers hear of it, and a
// ready deployment of the production branch is promoted first, so that a
// client told "ready" finds it on the project host.
func (l *Lifecycle) applied(ctx context.Context, t store.DeploymentTransition) {
	d, err := l.db.DeploymentByID(ctx, t.DeploymentID)
	if err != nil {
		return
	}
	if t.To == model.StateReady {
		l.autoPromote(ctx, d)
	}
	l.tell(ctx, Change{Kind: Applied, ProjectID: d.ProjectID, DeploymentIDs: []string{d.ID}, Transition: t})
	if model.Terminal(t.To) {
		l.dispatch(ctx) // its owner's slot is free: the next waiting build goes out
	}
}

// IsSHA reports whether ref is a full commit id.
func IsSHA(ref string) bool {
	if len(ref) != 40 {
		return false
	}
	for _, r := range ref {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
