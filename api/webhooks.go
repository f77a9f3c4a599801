package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// handleGitHubWebhook verifies and acts on one delivery.
func (s *Handler) handleGitHubWebhook(c echo.Context) error {
	secret := s.cfg.GitHub.WebhookSecret
	if secret == "" {
		return store.Errorf(store.ENOTFOUND, "GitHub webhooks are not configured on this berth.")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxWebhookBody+1))
	if err != nil {
		return store.Errorf(store.EINVALID, "Could not read the delivery.")
	}
	if len(body) > maxWebhookBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "The delivery is larger than berth accepts.")
	}
	if !validSignature(secret, c.Request().Header.Get("X-Hub-Signature-256"), body) {
		return store.Errorf(store.EUNAUTHORIZED, "Invalid signature.")
	}
	event := c.Request().Header.Get("X-GitHub-Event")
	delivery := c.Request().Header.Get("X-GitHub-Delivery")
	if event == "ping" {
		return c.JSON(http.StatusOK, map[string]string{"status": "pong"})
	}
	if delivery == "" {
		return store.Errorf(store.EINVALID, "The delivery has no X-GitHub-Delivery id.")
	}
	ctx := c.Request().Context()
	fresh, err := s.deps.DB.MarkDeliverySeen(ctx, delivery)
	if err != nil {
		return err
	}
	if !fresh {
		return c.JSON(http.StatusOK, map[string]string{"status": "duplicate", "reason": "this delivery was already handled"})
	}
	var results []*store.Delivery
	switch event {
	case "push":
		var ev pushEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return store.Errorf(store.EINVALID, "The push payload is not valid JSON.")
		}
		results = s.onPush(ctx, delivery, &ev)
	case "pull_request":
		var ev pullRequestEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return store.Errorf(store.EINVALID, "The pull_request payload is not valid JSON.")
		}
		results = s.onPullRequest(ctx, delivery, &ev)
	default:
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "berth does not act on " + event + " events"})
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
	return c.JSON(status, map[string]any{"status": "handled", "results": results})
}

// validSignature checks X-Hub-Signature-256 in constant time.
func validSignature(secret, header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// linkedProjects finds the projects of a repository, or returns why none.
func (s *Handler) linkedProjects(ctx context.Context, delivery, event, action, repo string) ([]*store.Project, []*store.Delivery) {
	projects, err := s.deps.DB.ProjectsByGitHubRepo(ctx, repo)
	if err != nil {
		return nil, []*store.Delivery{{DeliveryID: delivery, Repo: repo, Event: event, Action: action, Outcome: "error", Reason: "projects could not be looked up"}}
	}
	if len(projects) == 0 {
		return nil, []*store.Delivery{{DeliveryID: delivery, Repo: repo, Event: event, Action: action, Outcome: "ignored", Reason: "no project is linked to " + repo}}
	}
	return projects, nil
}

func (s *Handler) onPush(ctx context.Context, delivery string, ev *pushEvent) []*store.Delivery {
	repo := ev.Repository.FullName
	projects, results := s.linkedProjects(ctx, delivery, "push", "", repo)
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

func (s *Handler) onPullRequest(ctx context.Context, delivery string, ev *pullRequestEvent) []*store.Delivery {
	repo := ev.Repository.FullName
	projects, results := s.linkedProjects(ctx, delivery, "pull_request", ev.Action, repo)
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
