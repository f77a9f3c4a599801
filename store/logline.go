package store

import (
	"context"
	"fmt"
	"time"
)

// LogLine is one numbered line of a deployment's build log.
type LogLine struct {
	DeploymentID string    `json:"-"`
	Line         int64     `json:"line"`
	Stream       string    `json:"stream"`
	Text         string    `json:"text"`
	At           time.Time `json:"at"`
}

// LogCursor is where a deployment's log stands: the last line number and the
// last event-stream sequence applied to it.
type LogCursor struct {
	Line     int64
	EventSeq uint64
	// Ready is set once the deployment is ready: its log is complete.
	Ready bool
}

// LogCursor returns deploymentID's cursor (zero for a deployment with no log).
func (db *DB) LogCursor(ctx context.Context, deploymentID string) (LogCursor, error) {
	var c LogCursor
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(MAX(line), 0) FROM deployment_logs WHERE deployment_id = ?),
		COALESCE((SELECT event_seq FROM deployments WHERE id = ?), 0),
		COALESCE((SELECT state = 'ready' FROM deployments WHERE id = ?), 0)`, deploymentID, deploymentID, deploymentID).Scan(&c.Line, &c.EventSeq, &c.Ready)
	if err != nil {
		return c, fmt.Errorf("query log cursor: %w", err)
	}
	return c, nil
}

// EventBatch is a run of deployment events to store together: numbered log
// lines, state transitions in the order they happened, and each deployment's
// newest event-stream sequence.
type EventBatch struct {
	Lines       []LogLine
	Transitions []DeploymentTransition
	Seqs        map[string]uint64
}

// DeploymentTransition is a Transition of one deployment.
type DeploymentTransition struct {
	DeploymentID string
	Transition
}

// WriteEvents stores a batch in one transaction (lines first, then the
// transitions, then the sequences), so a crash leaves either all of it or
// none, and a redelivered event is recognised by its sequence and skipped.
// It reports which transitions were applied.
func (db *DB) WriteEvents(ctx context.Context, b EventBatch) ([]bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin event write: %w", err)
	}
	defer tx.Rollback()
	if len(b.Lines) > 0 {
		// Lines of a deployment deleted meanwhile are dropped, not a failure.
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO deployment_logs (deployment_id, line, stream, text, at)
			SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?)`)
		if err != nil {
			return nil, fmt.Errorf("prepare log append: %w", err)
		}
		defer stmt.Close()
		for _, l := range b.Lines {
			if _, err := stmt.ExecContext(ctx, l.DeploymentID, l.Line, l.Stream, l.Text, millis(l.At), l.DeploymentID); err != nil {
				return nil, fmt.Errorf("append log line: %w", err)
			}
		}
	}
	applied := make([]bool, len(b.Transitions))
	for i, t := range b.Transitions {
		if applied[i], err = applyTransition(ctx, tx, t.DeploymentID, t.Transition); err != nil {
			return nil, err
		}
	}
	for id, seq := range b.Seqs {
		if _, err := tx.ExecContext(ctx, "UPDATE deployments SET event_seq = MAX(event_seq, ?) WHERE id = ?", seq, id); err != nil {
			return nil, fmt.Errorf("advance event sequence: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit events: %w", err)
	}
	return applied, nil
}

// LogLines returns up to limit lines numbered after `after`, in order.
func (db *DB) LogLines(ctx context.Context, deploymentID string, after int64, limit int) ([]LogLine, error) {
	return queryList(ctx, db, "log lines", func(r row) (LogLine, error) {
		l := LogLine{DeploymentID: deploymentID}
		var at int64
		err := r.Scan(&l.Line, &l.Stream, &l.Text, &at)
		l.At = fromMillis(at)
		return l, err
	}, `SELECT line, stream, text, at FROM deployment_logs
		WHERE deployment_id = ? AND line > ? ORDER BY line LIMIT ?`, deploymentID, after, limit)
}

// AppendLogLine adds a line after the last of deploymentID's log: the
// control plane's own notes (a promotion and its outcome) on a deployment
// whose build has finished.
func (db *DB) AppendLogLine(ctx context.Context, deploymentID, stream, text string) (LogLine, error) {
	l := LogLine{DeploymentID: deploymentID, Stream: stream, Text: text, At: db.Now().UTC().Truncate(time.Millisecond)}
	err := db.write.QueryRowContext(ctx, `INSERT INTO deployment_logs (deployment_id, line, stream, text, at)
		SELECT ?, COALESCE((SELECT MAX(line) FROM deployment_logs WHERE deployment_id = ?), 0) + 1, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM deployments WHERE id = ?) RETURNING line`,
		deploymentID, deploymentID, stream, text, millis(l.At), deploymentID).Scan(&l.Line)
	if err != nil {
		return l, fmt.Errorf("append log line: %w", err)
	}
	return l, nil
}
