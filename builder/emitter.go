package builder

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/queue"
)

// emitter publishes one deployment's log lines and state changes on its
// event subject. Log lines go out without waiting for acks; a state change
// waits for every earlier line first, so "ready" never overtakes a line.
// The build's own output is capped (lines and bytes): past the cap one note
// says so and the rest is dropped, so a build printing for its whole time
// limit cannot fill the event stream and the database. berth's own
// ("system") lines are few and always kept.
type emitter struct {
	queue        *queue.Client
	deploymentID string
	log          *slog.Logger
	failed       bool

	maxLines  int   // 0: no cap
	maxBytes  int64 // 0: no cap
	lines     int
	bytes     int64
	truncated bool
}

func (e *emitter) line(stream, text string) {
	if stream != "system" && e.maxLines > 0 {
		if e.truncated {
			return
		}
		e.lines++
		e.bytes += int64(len(text))
		if e.lines > e.maxLines || e.bytes > e.maxBytes {
			e.truncated = true
			e.system("Log truncated: the build printed more than %d lines or %d MiB; the rest of its output is not kept.", e.maxLines, e.maxBytes>>20)
			return
		}
	}
	e.publish(stream, text)
}

func (e *emitter) publish(stream, text string) {
	ev := queue.Event{DeploymentID: e.deploymentID, Kind: queue.KindLog, At: time.Now().UTC(), Stream: stream, Text: text}
	if err := e.queue.PublishEventAsync(ev); err != nil && !e.failed {
		e.failed = true
		e.log.Warn("publish log line", slog.String("deployment", e.deploymentID), slog.Any("error", err))
	}
}

func (e *emitter) system(format string, args ...any) {
	e.publish("system", fmt.Sprintf(format, args...))
}

func (e *emitter) state(ctx context.Context, ev queue.Event) error {
	select {
	case <-e.queue.AsyncPublished():
	case <-time.After(30 * time.Second):
		e.log.Warn("log lines still unacknowledged before state change", slog.String("deployment", e.deploymentID))
	case <-ctx.Done():
		return ctx.Err()
	}
	ev.DeploymentID, ev.Kind, ev.At = e.deploymentID, queue.KindState, time.Now().UTC()
	return e.queue.PublishEvent(ctx, ev)
}
