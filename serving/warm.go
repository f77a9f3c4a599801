package serving

import (
	"context"
	"errors"
	"log/slog"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// Warm readies ready deployment d to take a production host's traffic:
// its artifacts are still in the store, its manifest is loaded (and a
// static site's index.html is in the hot cache), and a server deployment's
// server is started and answers healthPath below 500. It is the lifecycle's
// promotion gate: the first request after a promotion finds d warm.
func (h *Handler) Warm(ctx context.Context, d *store.Deployment, healthPath string) error {
	keys := []string{d.ArtifactKey + model.ManifestName}
	switch {
	case d.OutputType == model.OutputDockerImage:
		keys = append(keys, d.ArtifactKey+model.ImageArchive)
	case model.IsServer(d.OutputType):
		keys = append(keys, d.ArtifactKey+model.ServerBundle)
	}
	for _, key := range keys {
		if _, err := h.store.Stat(ctx, key); errors.Is(err, artifacts.ErrNotFound) {
			return store.Errorf(store.ECONFLICT, "The deployment's files are gone from the artifact store, so it cannot be served; build it again instead.")
		} else if err != nil {
			return err
		}
	}
	s, err := h.files.site(ctx, d.ID, d.ArtifactKey)
	if errors.Is(err, artifacts.ErrInvalidManifest) {
		return store.Errorf(store.ECONFLICT, "The deployment's manifest is invalid, so it cannot be served.")
	}
	if err != nil {
		return err
	}
	if !model.IsServer(d.OutputType) {
		// Only a head start: a page that cannot be cached now (a full
		// disk) is fetched by its first request, as before any promotion.
		if f, ok := s.m.Files["index.html"]; ok {
			if _, err := h.files.hot(ctx, d.ArtifactKey+model.FilesDir+"index.html", "index.html", f); err != nil {
				h.log.Warn("warm index.html", slog.String("deployment", d.ID), slog.Any("error", err))
			}
		}
		return nil
	}
	if h.apps == nil {
		return store.Errorf(store.ECONFLICT, "This berth has no container engine to run the app's server, so a server deployment cannot be promoted.")
	}
	return h.apps.Warm(ctx, d, healthPath)
}
