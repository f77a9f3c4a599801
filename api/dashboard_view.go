package api

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// funcs are the helpers templates may call.
func (d *dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		// asset is the URL of a static file, with its hash for caching.
		"asset":      func(name string) string { return "/static/" + name + "?v=" + d.hashes[name] },
		"stateLabel": stateLabel,
		"ago":        func(t time.Time) string { return timeAgo(t, time.Now()) },
		"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// bare is a URL without its scheme and trailing slash, for display.
		"bare": func(u string) string {
			_, rest, ok := strings.Cut(u, "://")
			if !ok {
				rest = u
			}
			return strings.TrimSuffix(rest, "/")
		},
		// in reports whether s is one of list.
		"in": func(s string, list ...string) bool { return slices.Contains(list, s) },
	}
}

// stateLabel is how a deployment state reads in the dashboard.
func stateLabel(state string) string {
	switch state {
	case model.StateQueued:
		return "Queued"
	case model.StateBuilding:
		return "Building"
	case model.StateUploading:
		return "Uploading"
	case model.StateReady:
		return "Ready"
	case model.StateError:
		return "Failed"
	case model.StateCancelled:
		return "Cancelled"
	}
	return state
}

// deploymentRow is a deployment as the dashboard lists and shows it.
type deploymentRow struct {
	*store.Deployment
	URL          string // the preview URL
	ShortSHA     string
	Message      string // the commit message's first line, shortened
	Duration     string // build time so far, or in total
	Live         bool   // not finished yet
	IsProduction bool   // what the project's production URL serves
}

func (d *dashboard) deploymentRow(dep *store.Deployment, productionID string, now time.Time) deploymentRow {
	r := deploymentRow{
		Deployment:   dep,
		URL:          d.s.previewURL(dep.PreviewHost),
		Message:      commitTitle(dep.CommitMessage, 72),
		Live:         !model.Terminal(dep.State),
		IsProduction: dep.ID == productionID,
	}
	if len(dep.CommitSHA) >= 7 {
		r.ShortSHA = dep.CommitSHA[:7]
	}
	if dep.BuildStartedAt != nil {
		end := now
		if dep.BuildFinishedAt != nil {
			end = *dep.BuildFinishedAt
		}
		r.Duration = buildDuration(end.Sub(*dep.BuildStartedAt))
	}
	return r
}

// commitTitle is s's first line, cut to max runes with an ellipsis.
func commitTitle(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

// buildDuration reads like "48s" or "2m 05s".
func buildDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

// timeAgo reads like "just now", "5 minutes ago", or a date for old times.
func timeAgo(t, now time.Time) string {
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second")
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 24*time.Hour:
		return plural(int(d.Hours()), "hour")
	case d < 30*24*time.Hour:
		return plural(int(d.Hours()/24), "day")
	}
	return t.UTC().Format("Jan 2, 2006")
}
