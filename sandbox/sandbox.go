// Package sandbox runs untrusted code in Docker containers: create, copy tar streams in and
// out, start, stream output line by line, wait, enforce limits, remove. It never bind-mounts
// host paths (the daemon may live on another host) and labels every container it creates so
// that a restarted berth can find and clean up what it left behind.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Labels set on every container berth creates. LabelManaged is "true"; LabelRole is "build" or
// "server"; LabelInstance identifies the berth instance that owns the container; builds and
// app servers carry their deployment's id as LabelDeployment.
const (
	LabelManaged    = "dev.berth.managed"
	LabelRole       = "dev.berth.role"
	LabelInstance   = "dev.berth.instance"
	LabelDeployment = "dev.berth.deployment"
)

// ErrTimeout is returned (wrapped) by Run when Spec.Timeout elapses; the container is killed.
var ErrTimeout = errors.New("sandbox: time limit exceeded")

// ErrDiskLimit is returned (wrapped) by Run when the container wrote more than
// Limits.DiskBytes; the container is killed.
var ErrDiskLimit = errors.New("sandbox: disk limit exceeded")

// Sandbox creates and drives containers through one Docker engine.
type Sandbox struct {
	docker *client.Client
	log    *slog.Logger

	netMu  sync.Mutex
	fence  *fence // set by UseNetwork
	closed bool   // by Close: no container may start unfenced after its rules are gone
}

// New connects to the engine named by the DOCKER_* environment (the local socket by default).
// It does not fail when the engine is down: Ping reports that.
func New(ctx context.Context, log *slog.Logger) (*Sandbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Negotiation matters: engines older than this client (Debian's speaks API 1.41) refuse
	// every call made with the client's default, newer version.
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("create docker client: %w", err)
	}
	return &Sandbox{docker: c, log: log}, nil
}

// Ping reports whether the engine answers.
func (s *Sandbox) Ping(ctx context.Context) error {
	if _, err := s.docker.Ping(ctx); err != nil {
		return fmt.Errorf("ping docker: %w", err)
	}
	return nil
}

// Close removes the firewall rules UseNetwork installed and releases the client's
// connections. Containers and the network are left as they are: the caller removes its
// containers first.
func (s *Sandbox) Close() error {
	s.netMu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := s.removeWalls(ctx)
	s.closed = true
	cancel()
	s.netMu.Unlock()
	return errors.Join(err, s.docker.Close())
}

// EnsureImage makes image available locally, pulling it when it is missing.
func (s *Sandbox) EnsureImage(ctx context.Context, ref string) error {
	_, err := s.docker.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", ref, err)
	}
	s.log.InfoContext(ctx, "pulling image", slog.String("image", ref))
	if err := s.pull(ctx, ref); err != nil {
		return fmt.Errorf("image %s is not available locally and could not be pulled: %w", ref, err)
	}
	return nil
}

func (s *Sandbox) pull(ctx context.Context, ref string) error {
	rc, err := s.docker.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	// The pull happens while the progress stream is read; errors arrive inside it as JSON.
	return readPullStream(rc)
}

// Remove force-removes a container and its anonymous volumes. A missing container is not an
// error.
func (s *Sandbox) Remove(ctx context.Context, containerID string) error {
	err := s.docker.ContainerRemove(ctx, containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", shortID(containerID), err)
	}
	return nil
}

// RemoveLabelled force-removes every container, running or not, whose labels include all of
// match, and returns how many it removed.
func (s *Sandbox) RemoveLabelled(ctx context.Context, match map[string]string) (int, error) {
	if len(match) == 0 {
		// An empty filter would match every container on the engine, berth's or not.
		return 0, errors.New("remove labelled containers: empty label match")
	}
	args := filters.NewArgs()
	for k, v := range match {
		args.Add("label", k+"="+v)
	}
	list, err := s.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	n := 0
	var errs []error
	for _, c := range list {
		if err := s.Remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// readPullStream drains an ImagePull progress stream (one JSON object per message) and returns
// the first error it reports.
func readPullStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read pull progress: %w", err)
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
