package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// expireDeployments takes deployments retention gave up out of the data
// plane at once: no host serves them and no app server runs for them.
func (m *Main) expireDeployments(ids []string) {
	m.serving.Forget(ids)
	m.serving.Invalidate()
	for _, id := range ids {
		m.apps.Remove(id) // its server and, for an image, the loaded image
	}
}

// reclaim deletes what expired deployments hold: cached files first (their
// manifests are read from the artifacts), then the artifacts, measured as
// they are listed, and any container left with their label.
func (m *Main) reclaim(ctx context.Context, ids []string) deploys.Reclaimed {
	var r deploys.Reclaimed
	m.serving.Forget(ids) // also for those an earlier, interrupted run expired
	r.CacheBytes = m.serving.ForgetFiles(ctx, ids)
	var errs []error
	for _, id := range ids {
		n, err := deletePrefix(ctx, m.artifacts, model.ArtifactPrefix(id))
		r.ArtifactBytes += n
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// An app server is stopped by expireDeployments; what is left is a
		// container a crash or a failed removal left behind. Docker being
		// down does not hold the deployment's other data back.
		if _, err := m.sandbox.RemoveLabelled(ctx, map[string]string{sandbox.LabelInstance: m.instance, sandbox.LabelDeployment: id}); err != nil {
			m.log.Warn("remove containers of an expired deployment", slog.String("deployment", id), slog.Any("error", err))
		}
		r.Done = append(r.Done, id)
	}
	r.Err = errors.Join(errs...)
	return r
}

// deletePrefix deletes every object under prefix and returns the bytes
// they held (listed just before; a partial deletion counts what it listed).
func deletePrefix(ctx context.Context, b artifacts.Bucket, prefix string) (int64, error) {
	var n, objects int64
	if err := b.List(ctx, prefix, func(o artifacts.Object) error { n += o.Size; objects++; return nil }); err != nil {
		return 0, fmt.Errorf("list artifacts %s: %w", prefix, err)
	}
	if objects == 0 {
		return 0, nil
	}
	if err := b.DeletePrefix(ctx, prefix); err != nil {
		return 0, fmt.Errorf("delete artifacts %s: %w", prefix, err)
	}
	return n, nil
}
