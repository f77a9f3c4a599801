package sandbox

import (
	"context"
	"fmt"
)

// ImageID returns the content-addressed id of a local image (the digest of
// its config): the same for the same image whatever tag names it, and
// another after the tag moves to a new image.
func (s *Sandbox) ImageID(ctx context.Context, ref string) (string, error) {
	info, err := s.docker.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return info.ID, nil
}
