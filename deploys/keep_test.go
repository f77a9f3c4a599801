package deploys

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestKeepRule: what one project's finished deployments keep, by rule.
func TestKeepRule(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// d makes a deployment created age ago; opts tweak it.
	d := func(id, state string, age time.Duration, opts ...func(*store.Deployment)) *store.Deployment {
		x := &store.Deployment{ID: id, State: state, CreatedAt: now.Add(-age)}
		finished := x.CreatedAt.Add(time.Minute)
		x.BuildFinishedAt = &finished
		for _, o := range opts {
			o(x)
		}
		return x
	}
	pr := func(n int, retired bool) func(*store.Deployment) {
		return func(x *store.Deployment) { x.PRNumber, x.Retired, x.Fork = n, retired, n == 99 }
	}
	const ready, failed, cancelled = model.StateReady, model.StateError, model.StateCancelled
	day := 24 * time.Hour
	for _, tc := range []struct {
		name       string
		keep       int
		production string
		promoted   []string
		ds         []*store.Deployment // newest first, as the store lists them
		want       []string
	}{
		{name: "nothing past N", keep: 3, ds: []*store.Deployment{d("a", ready, 1), d("b", ready, 2), d("c", ready, 3)}},
		{name: "past N", keep: 2, production: "a",
			ds:   []*store.Deployment{d("a", ready, 1), d("b", ready, 2), d("c", ready, 3), d("d", ready, 4)},
			want: []string{"c", "d"}},
		{name: "production older than N is kept", keep: 2, production: "e",
			ds:   []*store.Deployment{d("a", ready, 1), d("b", ready, 2), d("c", ready, 3), d("e", ready, 5), d("f", ready, 6)},
			want: []string{"c", "f"}},
		{name: "recently promoted is kept", keep: 1, production: "a", promoted: []string{"c"},
			ds:   []*store.Deployment{d("a", ready, 1), d("b", ready, 2), d("c", ready, 3), d("d", ready, 4)},
			want: []string{"b", "d"}},
		{name: "open pull request previews are kept, closed ones are not", keep: 1, production: "a",
			ds: []*store.Deployment{d("a", ready, 1), d("b", ready, 2, pr(7, false)), d("c", ready, 3, pr(8, true)),
				d("f", ready, 4, pr(99, false)), d("g", failed, 30*day, pr(7, false))},
			want: []string{"c"}},
		{name: "failed and cancelled keep their logs a while", keep: 1, production: "a",
			ds: []*store.Deployment{d("a", ready, 1), d("b", failed, 2*day), d("c", cancelled, 10*day), d("e", failed, 8*day),
				d("f", ready, 9*day)},
			want: []string{"c", "e", "f"}},
		{name: "failed among the newest N is kept however old", keep: 3,
			ds:   []*store.Deployment{d("a", failed, 20*day), d("b", cancelled, 21*day), d("c", failed, 22*day), d("e", failed, 23*day)},
			want: []string{"e"}},
		{name: "unfinished never", keep: 1,
			ds:   []*store.Deployment{d("a", ready, 1), d("b", model.StateBuilding, 30*day), d("c", model.StateQueued, 30*day), d("e", ready, 30*day)},
			want: []string{"e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := keepRule{Keep: tc.keep, Production: tc.production, Promoted: map[string]bool{}, FailedAfter: 7 * day, Now: now}
			for _, id := range tc.promoted {
				r.Promoted[id] = true
			}
			if got := r.expirable(tc.ds); !slices.Equal(got, tc.want) {
				t.Errorf("expirable = %v, want %v", got, tc.want)
			}
		})
	}
}
