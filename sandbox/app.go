package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// AppSpec describes a long-running server container. Spec.Timeout is
// ignored; Port is the container port published on a random loopback port.
type AppSpec struct {
	Spec
	Port int
}

// App is a started app server container.
type App struct {
	ContainerID string
	Addr        string // 127.0.0.1:<host port>
}

// StartApp creates the container, copies Files in, starts it and returns
// the loopback address its port is published on. It does not wait for the
// server to answer: that is the caller's readiness check. On failure nothing
// is left behind.
func (s *Sandbox) StartApp(ctx context.Context, spec AppSpec) (App, error) {
	// No command runs the image's own ENTRYPOINT and CMD.
	if spec.Image == "" || spec.Port <= 0 {
		return App{}, errors.New("start server: image and port are required")
	}
	cfg, hostCfg := containerConfig(spec.Spec)
	cfg.AttachStdout, cfg.AttachStderr = false, false
	port := nat.Port(strconv.Itoa(spec.Port) + "/tcp")
	cfg.ExposedPorts = nat.PortSet{port: struct{}{}}
	hostCfg.PortBindings = nat.PortMap{port: []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: ""}}}
	netID, err := s.network(ctx)
	if err != nil {
		return App{}, err
	}
	hostCfg.NetworkMode = container.NetworkMode(netID)
	created, err := s.docker.ContainerCreate(ctx, cfg, hostCfg, nil, nil, "")
	if err != nil {
		return App{}, fmt.Errorf("create server container from %s: %w", spec.Image, err)
	}
	id := created.ID
	fail := func(err error) (App, error) {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.Remove(rmCtx, id)
		return App{}, err
	}
	if len(spec.Files) > 0 {
		own, err := s.fileOwner(ctx, id, spec.User)
		if err != nil {
			return fail(fmt.Errorf("copy into server container: %w", err))
		}
		for _, f := range spec.Files {
			if err := s.copyIn(ctx, id, f, own); err != nil {
				return fail(err)
			}
		}
	}
	if err := s.docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fail(fmt.Errorf("start server container: %w", err))
	}
	info, err := s.docker.ContainerInspect(ctx, id)
	if err != nil {
		return fail(fmt.Errorf("inspect server container: %w", err))
	}
	if info.NetworkSettings == nil || len(info.NetworkSettings.Ports[port]) == 0 {
		return fail(errors.New("server container has no published port"))
	}
	hostPort := info.NetworkSettings.Ports[port][0].HostPort
	return App{ContainerID: id, Addr: net.JoinHostPort("127.0.0.1", hostPort)}, nil
}

// Running reports whether the container exists and runs.
func (s *Sandbox) Running(ctx context.Context, containerID string) (bool, error) {
	info, err := s.docker.ContainerInspect(ctx, containerID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspect container: %w", err)
	}
	return info.State != nil && info.State.Running, nil
}

// Tail returns the last n lines of a container's output (stdout and stderr
// interleaved), for error messages about servers that failed to start.
func (s *Sandbox) Tail(ctx context.Context, containerID string, n int) (string, error) {
	rc, err := s.docker.ContainerLogs(ctx, containerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return "", fmt.Errorf("read container logs: %w", err)
	}
	defer rc.Close()
	var out limitedBuffer
	out.max = 16 << 10
	stdcopy.StdCopy(&out, &out, rc) // a cut-off tail is still worth showing
	return out.String(), nil
}

type limitedBuffer struct {
	buf []byte
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		if len(p) > room {
			b.buf = append(b.buf, p[:room]...)
		} else {
			b.buf = append(b.buf, p...)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return string(b.buf) }
