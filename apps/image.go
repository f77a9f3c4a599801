package apps

import (
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/store"
)

// startImage starts a docker-image deployment's server: its own image,
// loaded from the artifact's archive when this engine does not have it,
// run with its own ENTRYPOINT, CMD and WORKDIR, PORT set to the port its
// build chose, as its USER when that is not root, else defaultRunAs.
func (s *Manager) startImage(ctx context.Context, d *store.Deployment, env []string, hash string) (*app, error) {
	m, err := artifacts.GetManifest(ctx, s.store, d.ArtifactKey)
	if err != nil {
		return nil, fmt.Errorf("read the image's port: %w", err)
	}
	if m.Port <= 0 || m.Port > 65535 {
		return nil, fmt.Errorf("the image's manifest has no valid port (%d)", m.Port)
	}
	ref := model.AppImage(d.ID)
	if err := s.loadImage(ctx, d, ref); err != nil {
		return nil, err
	}
	user, err := s.runAs(ctx, ref)
	if err != nil {
		return nil, err
	}
	env = append(env, "PORT="+strconv.Itoa(m.Port))
	srv, err := s.sb.StartApp(ctx, sandbox.AppSpec{Port: m.Port, Spec: sandbox.Spec{
		Image: ref,
		Env:   env,
		User:  user,
		Labels: map[string]string{
			sandbox.LabelRole:       "server",
			sandbox.LabelInstance:   s.cfg.Instance,
			sandbox.LabelDeployment: d.ID,
		},
		Limits: s.cfg.Limits,
	}})
	if err != nil {
		return nil, err
	}
	return s.ready(ctx, d, srv, hash)
}

// loadImage loads d's image archive into the engine unless it is there.
// Starts of one deployment are serialised (see get), so two loads of the
// same archive never race.
func (s *Manager) loadImage(ctx context.Context, d *store.Deployment, ref string) error {
	ok, err := s.sb.HasImage(ctx, ref)
	if err != nil || ok {
		return err
	}
	started := time.Now()
	archive, _, err := s.store.Get(ctx, d.ArtifactKey+model.ImageArchive)
	if err != nil {
		return fmt.Errorf("fetch image archive: %w", err)
	}
	defer archive.Close()
	tarStream, err := gzip.NewReader(archive)
	if err != nil {
		return fmt.Errorf("read image archive: %w", err)
	}
	if err := s.sb.LoadImage(ctx, tarStream); err != nil {
		return err
	}
	// The archive names its tag; an archive that held another would leave
	// the deployment without its image.
	if ok, err := s.sb.HasImage(ctx, ref); err != nil || !ok {
		return fmt.Errorf("the image archive does not hold %s (%v)", ref, err)
	}
	s.log.Info("loaded image", slog.String("deployment", d.ID), slog.Duration("took", time.Since(started)))
	return nil
}

// Remove stops deploymentID's server and removes its loaded image, if any:
// for deployments that are deleted or expired, whose artifact goes too.
func (s *Manager) Remove(deploymentID string) {
	s.Stop(deploymentID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.sb.RemoveImage(ctx, model.AppImage(deploymentID)); err != nil {
		s.log.Warn("remove app image", slog.String("deployment", deploymentID), slog.Any("error", err))
	}
}
