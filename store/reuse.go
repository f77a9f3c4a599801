package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/model"
)

// ReuseCandidate is a ready build a new deployment of the same project may
// serve instead of building, when its inputs key is the same.
type ReuseCandidate struct {
	DeploymentID string
	InputsKey    string
	ArtifactKey  string
}

// maxReuseCandidates bounds what one build job carries: the newest builds
// are the ones a new push is likely to match.
const maxReuseCandidates = 50

// ReuseCandidates lists the builds of projectID a new deployment may reuse,
// newest first, one per inputs key: ready, not a fork's, not expired (so
// their artifact is stored), with a known inputs key.
func (db *DB) ReuseCandidates(ctx context.Context, projectID string) ([]ReuseCandidate, error) {
	return queryList(ctx, db, "reuse candidates", func(r row) (ReuseCandidate, error) {
		var c ReuseCandidate
		err := r.Scan(&c.DeploymentID, &c.InputsKey, &c.ArtifactKey)
		return c, err
	}, `SELECT id, inputs_key, artifact_key FROM (
			SELECT id, inputs_key, artifact_key, ROW_NUMBER() OVER (PARTITION BY inputs_key ORDER BY created_at DESC, rowid DESC) AS n, created_at, rowid
			FROM deployments WHERE project_id = ? AND state = 'ready' AND fork = 0 AND expired_at IS NULL
			AND inputs_key != '' AND artifact_key != '')
		WHERE n = 1 ORDER BY created_at DESC, rowid DESC LIMIT ?`, projectID, maxReuseCandidates)
}

// applyReuse makes deployment id ready serving the build of t.ReusedFrom,
// in one statement, and only when everything that makes that safe holds at
// that moment: the source is of the same project, ready, not a fork's, not
// expired (retention keeps its artifact while this one is kept), with the
// same non-empty inputs key; the deployment itself is building, not a fork's
// and not asked to build from scratch. The artifact key and output type are
// the source's own, never the reporter's.
func applyReuse(ctx context.Context, db execer, id string, t Transition) (bool, error) {
	const src = `FROM deployments s WHERE s.id = ? AND s.project_id = deployments.project_id AND s.id != deployments.id
		AND s.state = 'ready' AND s.fork = 0 AND s.expired_at IS NULL AND s.inputs_key = ? AND s.inputs_key != ''
		AND s.artifact_key != ''`
	res, err := db.ExecContext(ctx, `UPDATE deployments SET state = 'ready',
		artifact_key = (SELECT s.artifact_key `+src+`),
		output_type = (SELECT s.output_type `+src+`),
		inputs_key = ?, reused_from = ?, build_finished_at = ?
		WHERE id = ? AND state = 'building' AND fork = 0 AND rebuild = 0
		AND EXISTS (SELECT 1 `+src+`)`,
		t.ReusedFrom, t.InputsKey, t.ReusedFrom, t.InputsKey,
		t.InputsKey, t.ReusedFrom, millis(t.At),
		id, t.ReusedFrom, t.InputsKey)
	if err != nil {
		return false, fmt.Errorf("apply reuse: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// artifactPrefixParts are what comes before and after a deployment id in
// its artifact prefix, as query arguments.
func artifactPrefixParts() []any {
	before, after, _ := strings.Cut(model.ArtifactPrefix("\x00"), "\x00")
	return []any{before, after}
}
