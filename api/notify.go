package api

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v84/github"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// note is one deployment state to report to GitHub.
type note struct {
	deploymentID string
	state        string
}

// notifier reports deployment states to GitHub as commit statuses and
// pull request comments. One goroutine sends them in order, so "pending"
// never lands after "success" and a PR never gets two comments.
type notifier struct {
	s      *Handler
	queue  chan note
	cancel context.CancelFunc
	done   chan struct{}
}

func newNotifier(s *Handler) *notifier {
	return &notifier{s: s, queue: make(chan note, 1024), done: make(chan struct{})}
}

func (n *notifier) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		defer close(n.done)
		for {
			select {
			case <-ctx.Done():
				return
			case nt := <-n.queue:
				callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				n.send(callCtx, nt)
				cancel()
			}
		}
	}()
}

func (n *notifier) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
}

// notify queues a report; it never blocks the caller.
func (n *notifier) notify(deploymentID, state string) {
	select {
	case n.queue <- note{deploymentID, state}:
	default:
		n.s.deps.Log.Warn("github notification queue full; dropping", slog.String("deployment", deploymentID))
	}
}

func (n *notifier) send(ctx context.Context, nt note) {
	s := n.s
	d, err := s.deps.DB.DeploymentByID(ctx, nt.deploymentID)
	if err != nil {
		return
	}
	owner, err := s.deps.DB.ProjectOwner(ctx, d.ProjectID)
	if err != nil {
		return
	}
	p, err := s.deps.DB.Project(ctx, owner, d.ProjectID)
	if err != nil || p.GitHubRepo == "" || d.CommitSHA == "" {
		return
	}
	token := s.deps.Deploys.RepoToken(ctx, owner)
	if token == "" {
		return
	}
	repoOwner, repo, _ := strings.Cut(p.GitHubRepo, "/")
	client := s.githubClient(ctx, token)
	log := s.deps.Log.With(slog.String("deployment", d.ID), slog.String("repo", p.GitHubRepo))

	status := &github.RepoStatus{Context: github.Ptr("berth")}
	switch nt.state {
	case model.StateQueued, model.StateBuilding:
		status.State, status.Description = github.Ptr("pending"), github.Ptr("Building the preview…")
		status.TargetURL = github.Ptr(s.dashboardURL(d))
	case model.StateReady:
		status.State, status.Description = github.Ptr("success"), github.Ptr("Preview ready")
		status.TargetURL = github.Ptr(s.previewURL(d.PreviewHost))
	case model.StateError:
		status.State, status.Description = github.Ptr("failure"), github.Ptr(truncate("Build failed: "+d.Error, 140))
		status.TargetURL = github.Ptr(s.dashboardURL(d))
	case model.StateCancelled:
		status.State, status.Description = github.Ptr("error"), github.Ptr("Cancelled")
		status.TargetURL = github.Ptr(s.dashboardURL(d))
	default:
		return
	}
	if _, _, err := client.Repositories.CreateStatus(ctx, repoOwner, repo, d.CommitSHA, *status); err != nil {
		log.Warn("post commit status", slog.String("error", githubErr(err)))
	}
	if d.PRNumber > 0 && nt.state != model.StateBuilding {
		n.comment(ctx, client, p, d, nt.state, log)
	}
}

// comment creates berth's one comment on the pull request, or edits it.
func (n *notifier) comment(ctx context.Context, client *github.Client, p *store.Project, d *store.Deployment, state string, log *slog.Logger) {
	s := n.s
	repoOwner, repo, _ := strings.Cut(p.GitHubRepo, "/")
	body := fmt.Sprintf("**berth preview** for `%s`\n\n| state | preview | log |\n|---|---|---|\n| %s | %s | [build log](%s) |\n",
		short(d.CommitSHA), state, s.previewURL(d.PreviewHost), s.dashboardURL(d))
	id, err := s.deps.DB.PRComment(ctx, p.ID, d.PRNumber)
	if err != nil {
		return
	}
	if id != 0 {
		if _, _, err := client.Issues.EditComment(ctx, repoOwner, repo, id, &github.IssueComment{Body: &body}); err != nil {
			log.Warn("edit pull request comment", slog.String("error", githubErr(err)))
		}
		return
	}
	c, _, err := client.Issues.CreateComment(ctx, repoOwner, repo, d.PRNumber, &github.IssueComment{Body: &body})
	if err != nil {
		log.Warn("comment on pull request", slog.String("error", githubErr(err)))
		return
	}
	if err := s.deps.DB.SetPRComment(ctx, p.ID, d.PRNumber, c.GetID()); err != nil {
		log.Warn("remember pull request comment", slog.Any("error", err))
	}
}

// dashboardURL is where a deployment's log is shown.
func (s *Handler) dashboardURL(d *store.Deployment) string {
	return s.public.String() + "/deployments/" + d.ID
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(s, 200)
}

func itoa(n int) string { return strconv.Itoa(n) }

// observe turns lifecycle changes into GitHub reports: "pending" when a
// deployment of a known commit is queued (or, asked for by branch, when it
// learns its commit), and the final state.
func (n *notifier) observe(ctx context.Context, c deploys.Change) {
	switch c.Kind {
	case deploys.Queued:
		if c.Deployment.CommitSHA != "" {
			n.notify(c.Deployment.ID, model.StateQueued)
		}
	case deploys.Applied:
		t := c.Transition
		if model.Terminal(t.To) {
			n.notify(t.DeploymentID, t.To)
			return
		}
		if t.To != model.StateBuilding || t.CommitSHA == "" {
			return
		}
		d, err := n.s.deps.DB.DeploymentByID(ctx, t.DeploymentID)
		if err == nil && (d.Trigger == model.TriggerAPI || d.Trigger == model.TriggerDashboard) {
			n.notify(d.ID, t.To)
		}
	}
}
