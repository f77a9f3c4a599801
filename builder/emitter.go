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
type emitter struct {
	queue        *queue.Client
	deploymentID string
	log          *slog.Logger
	failed       bool
}

func (e *emitter) line(stream, text string) {
	ev := queue.Event{DeploymentID: e.deploymentID, Kind: queue.KindLog, At: time.Now().UTC(), Stream: stream, Text: text}
	if err := e.queue.PublishEventAsync(ev); err != nil && !e.failed {
		e.failed = true
		e.log.Warn("publish log line", slog.String("deployment", e.deploymentID), slog.Any("error", err))
	}
}

func (e *emitter) system(format string, args ...any) {
	e.line("system", fmt.Sprintf(format, args...))
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
