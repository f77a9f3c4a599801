package deploys

import (
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// keepRule decides which of one project's finished deployments keep their
// artifacts, cached files and logs.
type keepRule struct {
	// Keep is how many ready deployments are kept, newest first.
	Keep int
	// Production is the project's production deployment: always kept.
	Production string
	// Promoted holds deployments that were production recently: kept.
	Promoted map[string]bool
	// FailedAfter is how long a failed or cancelled deployment outside
	// the newest Keep keeps its log.
	FailedAfter time.Duration
	Now         time.Time
}

// expirable returns the ids of ds (one project's finished, unexpired
// deployments, newest first) that retention may expire. Kept are: the
// production deployment, those promoted recently, every deployment of a
// pull request still open, the newest Keep ready ones, and failed or
// cancelled ones among the newest Keep or younger than FailedAfter.
// Deployments still building never reach this list.
func (r keepRule) expirable(ds []*store.Deployment) []string {
	var out []string
	ready := 0
	for i, d := range ds {
		switch {
		case d.ID == r.Production, r.Promoted[d.ID]:
			if d.State == model.StateReady {
				ready++
			}
			continue
		case d.PRNumber > 0 && !d.Retired:
			// An open pull request's preview is linked from its page.
			continue
		}
		switch d.State {
		case model.StateReady:
			ready++
			if ready <= r.Keep {
				continue
			}
		case model.StateError, model.StateCancelled:
			finished := d.CreatedAt
			if d.BuildFinishedAt != nil {
				finished = *d.BuildFinishedAt
			}
			if i < r.Keep || r.Now.Sub(finished) < r.FailedAfter {
				continue
			}
		default:
			continue // not finished: never expired
		}
		out = append(out, d.ID)
	}
	return out
}
