package sandbox

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Usage is what berth's containers and images take on the engine's disk.
type Usage struct {
	Containers     int   `json:"containers"`
	ContainerBytes int64 `json:"container_bytes"` // their writable layers
	ImageBytes     int64 `json:"image_bytes"`     // the build and runtime images
}

// Usage measures the containers whose labels include all of match and the
// images named in images (missing ones count nothing).
func (s *Sandbox) Usage(ctx context.Context, match map[string]string, images ...string) (Usage, error) {
	var u Usage
	if len(match) == 0 {
		return u, errors.New("measure containers: empty label match")
	}
	args := filters.NewArgs()
	for k, v := range match {
		args.Add("label", k+"="+v)
	}
	list, err := s.docker.ContainerList(ctx, container.ListOptions{All: true, Size: true, Filters: args})
	if err != nil {
		return u, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range list {
		u.Containers++
		u.ContainerBytes += c.SizeRw
	}
	seen := map[string]bool{}
	for _, ref := range images {
		img, err := s.docker.ImageInspect(ctx, ref)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return u, fmt.Errorf("inspect image %s: %w", ref, err)
		}
		if !seen[img.ID] {
			seen[img.ID] = true
			u.ImageBytes += img.Size
		}
	}
	return u, nil
}
