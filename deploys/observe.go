package deploys

import (
	"context"

	"github.com/berth-dev/berth/store"
)

// ChangeKind says what happened to deployments.
type ChangeKind int

// The changes observers hear of.
const (
	// Queued: a deployment was created and its build job published.
	Queued ChangeKind = iota + 1
	// Applied: a state transition was stored.
	Applied
	// Promoted: a project's production deployment moved. Observers hear it
	// before Promote returns: what serves the project host must change then.
	Promoted
	// Retired: previews of a closed pull request stopped serving.
	Retired
	// Deleted: a project was deleted with its deployments (maybe none)
	// and custom domains; their artifacts and caches may go.
	Deleted
	// Expired: retention gave deployments up; they are no longer served,
	// and their artifacts, caches and logs are about to go.
	Expired
)

// Change is one thing that happened, as observers hear of it.
type Change struct {
	Kind          ChangeKind
	ProjectID     string
	DeploymentIDs []string
	// Deployment is the new deployment (Queued).
	Deployment *store.Deployment
	// Transition is the stored state change (Applied).
	Transition store.DeploymentTransition
}

// Observer hears of changes, in order, on the goroutine that made them: it
// must return quickly (queue slow work of its own).
type Observer func(context.Context, Change)

func (l *Lifecycle) tell(ctx context.Context, c Change) {
	for _, fn := range l.observers {
		fn(ctx, c)
	}
}
