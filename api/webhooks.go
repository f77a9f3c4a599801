package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// maxWebhookBody bounds a delivery; GitHub caps payloads at 25 MB, and push
// events with that much are not worth buffering.
const maxWebhookBody = 5 << 20

// pushEvent and pullRequestEvent hold the fields berth reads of GitHub's
// payloads.
type pushEvent struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	HeadCommit *struct {
		Message string `json:"message"`
	} `json:"head_commit"`
	Repository repoRef `json:"repository"`
}

type repoRef struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

type pullRequestEvent struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Title string `json:"title"`
		Head  struct {
			Ref  string   `json:"ref"`
			SHA  string   `json:"sha"`
			Repo *repoRef `json:"repo"`
		} `json:"head"`
		Base struct {
			Repo repoRef `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository repoRef `json:"repository"`
}

// envelope holds what every delivery is matched by: its repository (and,
// for the delivery log, its action).
type envelope struct {
	Action     string `json:"action"`
	Repository *struct {
		ID       int64  `json:"id"`
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// handleGitHubWebhook verifies and acts on one delivery. It goes only to
// the projects linked to its repository whose secret signed it (the
// instance's secret signs for projects without one of their own), and
// among those only to projects linked to the same repository id. The
// answer counts them and names nothing: the delivery log of each project
// says what happened.
func (s *Handler) handleGitHubWebhook(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxWebhookBody+1))
	if err != nil {
		return store.Errorf(store.EINVALID, "Could not read the delivery.")
	}
	if len(body) > maxWebhookBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "The delivery is larger than berth accepts.")
	}
	sig, ok := parseSignature(c.Request().Header.Get("X-Hub-Signature-256"))
	if !ok {
		return store.Errorf(store.EUNAUTHORIZED, "Invalid signature.")
	}
	ctx := c.Request().Context()
	var env envelope
	_ = json.Unmarshal(body, &env) // a delivery that is not JSON matches no project
	projects, byInstance, err := s.signedFor(ctx, &env, sig, body)
	if err != nil {
		return err
	}
	if len(projects) == 0 && !byInstance {
		return store.Errorf(store.EUNAUTHORIZED, "Invalid signature.")
	}
	event := c.Request().Header.Get("X-GitHub-Event")
	delivery := c.Request().Header.Get("X-GitHub-Delivery")
	if event == "ping" {
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "status": "pong"})
	}
	if delivery == "" {
		return store.Errorf(store.EINVALID, "The delivery has no X-GitHub-Delivery id.")
	}
	fresh, err := s.deps.DB.MarkDeliverySeen(ctx, delivery)
	if err != nil {
		return err
	}
	if !fresh {
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "status": "duplicate"})
	}
	results, projects := s.sameRepository(delivery, event, &env, projects)
	switch event {
	case "push":
		var ev pushEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return store.Errorf(store.EINVALID, "The push payload is not valid JSON.")
		}
		results = append(results, s.onPush(ctx, delivery, &ev, projects)...)
	case "pull_request":
		var ev pullRequestEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return store.Errorf(store.EINVALID, "The pull_request payload is not valid JSON.")
		}
		results = append(results, s.onPullRequest(ctx, delivery, &ev, projects)...)
	default:
		results = results[:0] // nothing to say to anyone of events berth does not act on
	}
	status := http.StatusAccepted
	for _, r := range results {
		if err := s.deps.DB.RecordDelivery(ctx, r); err != nil {
			s.deps.Log.Warn("record webhook delivery", slog.Any("error", err))
		}
		if r.Outcome == "deployed" || r.Outcome == "retired" {
			status = http.StatusOK
		}
	}
	return c.JSON(status, map[string]any{"ok": true, "deliveries": len(results)})
}

// signedFor returns the projects linked to the delivery's repository whose
// webhook secret made sig, and whether the instance's secret made it. A
// project with a secret of its own never accepts the instance's; one whose
// secret cannot be opened accepts nothing.
func (s *Handler) signedFor(ctx context.Context, env *envelope, sig, body []byte) ([]*store.Project, bool, error) {
	instance := s.cfg.GitHub.WebhookSecret
	byInstance := instance != "" && signedWith(instance, sig, body)
	if env.Repository == nil || !store.ValidGitHubRepo(env.Repository.FullName) {
		return nil, byInstance, nil
	}
	candidates, err := s.deps.DB.ProjectsByGitHubRepo(ctx, env.Repository.FullName)
	if err != nil {
		return nil, false, err
	}
	var out []*store.Project
	for _, p := range candidates {
		if len(p.WebhookSecret) == 0 {
			if byInstance {
				out = append(out, p)
			}
			continue
		}
		secret, err := s.deps.Deploys.WebhookSecret(p)
		if err != nil {
			s.deps.Log.Warn("open webhook secret", slog.String("project", p.ID), slog.Any("error", err))
			continue
		}
		if signedWith(secret, sig, body) {
			out = append(out, p)
		}
	}
	return out, byInstance, nil
}

// sameRepository keeps the projects linked to the delivery's repository id
// (projects linked before ids were recorded have 0 and are kept) and
// records the others as rejected.
func (s *Handler) sameRepository(delivery, event string, env *envelope, projects []*store.Project) ([]*store.Delivery, []*store.Project) {
	var rejected []*store.Delivery
	var kept []*store.Project
	for _, p := range projects {
		if p.GitHubRepoID == 0 || env.Repository.ID == p.GitHubRepoID {
			kept = append(kept, p)
			continue
		}
		rejected = append(rejected, &store.Delivery{DeliveryID: delivery, ProjectID: p.ID, Repo: env.Repository.FullName,
			Event: event, Action: env.Action, Outcome: "rejected",
			Reason: fmt.Sprintf("the delivery comes from repository id %d, but %s was linked as id %d (deleted and made again?); link the repository again to accept it",
				env.Repository.ID, p.GitHubRepo, p.GitHubRepoID)})
	}
	return rejected, kept
}

// parseSignature decodes X-Hub-Signature-256 ("sha256=<hex>").
func parseSignature(header string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return nil, false
	}
	sig, err := hex.DecodeString(hexSig)
	return sig, err == nil && len(sig) == sha256.Size
}

// signedWith reports, in constant time, whether sig is body's HMAC-SHA256
// under secret.
func signedWith(secret string, sig, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// validSignature checks X-Hub-Signature-256 in constant time.
func validSignature(secret, header string, body []byte) bool {
	sig, ok := parseSignature(header)
	return ok && signedWith(secret, sig, body)
}

func (s *Handler) onPush(ctx context.Context, delivery string, ev *pushEvent, projects []*store.Project) []*store.Delivery {
	repo := ev.Repository.FullName
	var results []*store.Delivery
	for _, p := range projects {
		r := &store.Delivery{DeliveryID: delivery, ProjectID: p.ID, Repo: repo, Event: "push"}
		results = append(results, r)
		branch, isBranch := strings.CutPrefix(ev.Ref, "refs/heads/")
		switch {
		case !isBranch:
			r.Outcome, r.Reason = "ignored", "only branch pushes deploy ("+ev.Ref+" is not a branch)"
			continue
		case ev.Deleted || strings.Trim(ev.After, "0") == "":
			r.Outcome, r.Reason = "ignored", "branch "+branch+" was deleted"
			continue
		case !deploys.IsSHA(ev.After) || !store.ValidBranch(branch):
			r.Outcome, r.Reason = "rejected", "the payload has no valid commit or branch"
			continue
		}
		msg := ""
		if ev.HeadCommit != nil {
			msg = firstLine(ev.HeadCommit.Message)
		}
		d := &store.Deployment{ProjectID: p.ID, Ref: branch, Branch: branch, CommitSHA: ev.After, CommitMessage: msg, Trigger: model.TriggerPush}
		s.deployFromWebhook(ctx, p, d, r)
	}
	return results
}

func (s *Handler) onPullRequest(ctx context.Context, delivery string, ev *pullRequestEvent, projects []*store.Project) []*store.Delivery {
	repo := ev.Repository.FullName
	var results []*store.Delivery
	pr := ev.PullRequest
	fork := pr.Head.Repo == nil || !strings.EqualFold(pr.Head.Repo.FullName, pr.Base.Repo.FullName)
	for _, p := range projects {
		r := &store.Delivery{DeliveryID: delivery, ProjectID: p.ID, Repo: repo, Event: "pull_request", Action: ev.Action}
		results = append(results, r)
		switch ev.Action {
		case "opened", "synchronize", "reopened":
		case "closed":
			n, err := s.deps.Deploys.RetirePullRequest(ctx, p.ID, ev.Number)
			if err != nil {
				r.Outcome, r.Reason = "error", "the pull request's previews could not be retired"
				continue
			}
			r.Outcome, r.Reason = "retired", pluralPreviews(n)
			continue
		default:
			r.Outcome, r.Reason = "ignored", "pull request action "+ev.Action+" does not deploy"
			continue
		}
		if fork && !p.AllowForkPRs {
			r.Outcome, r.Reason = "ignored", "pull requests from forks are not built for this project (allow_fork_prs is off)"
			continue
		}
		if !deploys.IsSHA(pr.Head.SHA) || !store.ValidBranch(pr.Head.Ref) {
			r.Outcome, r.Reason = "rejected", "the payload has no valid head commit or branch"
			continue
		}
		d := &store.Deployment{ProjectID: p.ID, Ref: pr.Head.Ref, Branch: pr.Head.Ref, CommitSHA: pr.Head.SHA,
			CommitMessage: firstLine(pr.Title), Trigger: model.TriggerPullRequest, PRNumber: ev.Number, Fork: fork}
		if fork && p.GitURL == "" && pr.Head.Repo != nil {
			d.GitURL = s.deps.Deploys.GitHubRepoURL(pr.Head.Repo.FullName)
		}
		s.deployFromWebhook(ctx, p, d, r)
	}
	return results
}

func (s *Handler) deployFromWebhook(ctx context.Context, p *store.Project, d *store.Deployment, r *store.Delivery) {
	d, err := s.deps.Deploys.Deploy(ctx, p.OwnerID, p, d)
	if err != nil {
		r.Outcome, r.Reason = "error", store.ErrorMessage(err)
		return
	}
	r.Outcome, r.DeploymentID = "deployed", d.ID
	r.Reason = "deploying " + short(d.CommitSHA) + " of " + d.Branch
}

func pluralPreviews(n int) string {
	if n == 1 {
		return "1 preview stopped"
	}
	return itoa(n) + " previews stopped"
}

// handleListDeliveries shows a project's recent webhook deliveries.
func (s *Handler) handleListDeliveries(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	list, err := s.deps.DB.Deliveries(ctx, u.ID, p.ID, 100)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}
