package builder

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/berth-dev/berth/queue"
)

// TestLogIsCapped: a build printing without end keeps maxLines lines, then
// one note; berth's own lines still go out, and so does the final state.
func TestLogIsCapped(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Start(t.Context(), queue.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	for _, tt := range []struct {
		name      string
		lines     int
		text      string
		wantLines int
	}{
		{"by lines", 5000, "x", 100},
		{"by bytes", 50, strings.Repeat("y", 64<<10), 16}, // 1 MiB holds exactly 16 such lines
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "cap-" + strings.ReplaceAll(tt.name, " ", "-")
			em := &emitter{queue: q.Client(), deploymentID: id, log: log, maxLines: 100, maxBytes: 1 << 20}
			for range tt.lines {
				em.line("stdout", tt.text)
			}
			em.system("Deployment ready.")
			if err := em.state(context.Background(), queue.Event{State: "ready"}); err != nil {
				t.Fatal(err)
			}
			evs, err := q.Client().Events(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			var out, notes int
			var last string
			for _, ev := range evs {
				switch {
				case ev.Stream == "stdout":
					out++
				case strings.HasPrefix(ev.Text, "Log truncated"):
					notes++
				}
				last = ev.State + ev.Text
			}
			if out != tt.wantLines || notes != 1 || last != "ready" {
				t.Errorf("kept %d output lines and %d notes (last %q), want %d and 1, then ready", out, notes, last, tt.wantLines)
			}
		})
	}
}
