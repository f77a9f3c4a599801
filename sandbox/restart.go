package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// StopApp kills a server container's processes and keeps the container,
// with the files copied into it, so that RestartApp can run it again
// without copying anything. It returns once the container has stopped.
func (s *Sandbox) StopApp(ctx context.Context, containerID string) error {
	waitC, errC := s.docker.ContainerWait(ctx, containerID, container.WaitConditionNotRunning)
	if err := s.docker.ContainerKill(ctx, containerID, "KILL"); err != nil && !cerrdefs.IsConflict(err) {
		// Conflict: it is not running, which is what we want.
		return fmt.Errorf("stop server container %s: %w", shortID(containerID), err)
	}
	select {
	case <-waitC:
		return nil
	case err := <-errC:
		return fmt.Errorf("stop server container %s: %w", shortID(containerID), err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RestartApp starts a stopped server container again and returns the
// loopback address its port is now published on (a server container
// publishes one port, whichever the server listens on: 3000, or an
// image's own). Like StartApp, it does not wait for the server to answer.
func (s *Sandbox) RestartApp(ctx context.Context, containerID string) (App, error) {
	if err := s.docker.ContainerStart(ctx, containerID, container.StartOptions{}); err != nil {
		return App{}, fmt.Errorf("restart server container %s: %w", shortID(containerID), err)
	}
	info, err := s.docker.ContainerInspect(ctx, containerID)
	if err != nil {
		return App{}, fmt.Errorf("inspect server container: %w", err)
	}
	if info.NetworkSettings != nil {
		for _, bindings := range info.NetworkSettings.Ports {
			if len(bindings) > 0 {
				return App{ContainerID: containerID, Addr: net.JoinHostPort("127.0.0.1", bindings[0].HostPort)}, nil
			}
		}
	}
	return App{}, errors.New("server container has no published port")
}
