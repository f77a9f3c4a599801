package model

import (
	"slices"
	"testing"
)

func TestWorkerLabels(t *testing.T) {
	got, err := WorkerLabels([]string{" Big", "arm64", "", "big"})
	if err != nil || !slices.Equal(got, []string{"arm64", "big"}) {
		t.Fatalf("WorkerLabels = %v, %v", got, err)
	}
	for _, bad := range [][]string{{"arm_64"}, {"-x"}, {"a.b"}, {"a", "b", "c", "d", "e"}, {"x123456789012345678901234567890123"}} {
		if _, err := WorkerLabels(bad); err == nil {
			t.Errorf("WorkerLabels(%q) accepted", bad)
		}
	}
}
