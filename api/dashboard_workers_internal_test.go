package api

import (
	"testing"
	"time"
)

// TestHeartbeatAgo: a heartbeat's age reads in seconds, then minutes.
func TestHeartbeatAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                         "0 s ago",
		0:                                    "0 s ago",
		3*time.Second + 400*time.Millisecond: "3 s ago",
		59 * time.Second:                     "59 s ago",
		90 * time.Second:                     "1 min ago",
		59 * time.Minute:                     "59 min ago",
		2 * time.Hour:                        "2 h ago",
	} {
		if got := heartbeatAgo(d); got != want {
			t.Errorf("heartbeatAgo(%v) = %q, want %q", d, got, want)
		}
	}
}
