package model

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// MaxWorkerLabels bounds the labels a project may require and a worker may
// have: a worker pulls from one queue per subset of its labels.
const MaxWorkerLabels = 4

var workerLabel = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// WorkerLabels checks and normalises a label list (a project's
// requirement or a worker's labels): lower case letters, digits and dashes,
// at most MaxWorkerLabels, sorted, without repeats.
func WorkerLabels(labels []string) ([]string, error) {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		l = strings.ToLower(strings.TrimSpace(l))
		if l == "" {
			continue
		}
		if !workerLabel.MatchString(l) {
			return nil, fmt.Errorf("worker label %q must be 1 to 32 lower case letters, digits and dashes, starting with a letter or digit", l)
		}
		out = append(out, l)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxWorkerLabels {
		return nil, fmt.Errorf("at most %d worker labels, not %d", MaxWorkerLabels, len(out))
	}
	return out, nil
}
