package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
)

// ImageBuild describes one build of a Dockerfile with the engine's classic
// builder.
type ImageBuild struct {
	Context    io.Reader // a tar stream of the build context
	Dockerfile string    // its path inside Context
	Tag        string
	Args       map[string]string // build args (ARG) of the Dockerfile
	Labels     map[string]string // set on the image, merged with LabelManaged=true
	Limits     Limits            // memory and CPU of every RUN step's container
	Timeout    time.Duration     // 0 = none
	// NoCache builds every step afresh: the engine's layer cache is shared
	// by every build on it, keyed by the parent layer and the step's text.
	NoCache bool
}

// BuildImage builds an image and calls onLine for every line of the build's
// output. The RUN steps' containers are on berth's network (the fenced one
// once UseNetwork was called), within Limits' memory and CPU, and removed
// after each step, failed or not. The classic builder takes no host mounts,
// secrets or SSH agents from a build request, and the engine's socket is not
// in its context. It returns ErrTimeout (wrapped) when Timeout elapses.
func (s *Sandbox) BuildImage(ctx context.Context, b ImageBuild, onLine func(Line)) error {
	if onLine == nil {
		onLine = func(Line) {}
	}
	netID, err := s.network(ctx)
	if err != nil {
		return err
	}
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, b.Timeout, ErrTimeout)
		defer cancel()
	}
	args := make(map[string]*string, len(b.Args))
	for k, v := range b.Args {
		args[k] = &v
	}
	labels := make(map[string]string, len(b.Labels)+1)
	for k, v := range b.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	opts := build.ImageBuildOptions{
		Version:     build.BuilderV1,
		Tags:        []string{b.Tag},
		Dockerfile:  b.Dockerfile,
		BuildArgs:   args,
		Labels:      labels,
		NetworkMode: netID,
		NoCache:     b.NoCache,
		Remove:      true,
		ForceRemove: true,
		// A parent image is only ever the local one: no registry may be
		// reachable, and pulling what a project names is not a build step.
		PullParent: false,
	}
	if m := b.Limits.MemoryBytes; m > 0 {
		opts.Memory, opts.MemorySwap = m, m
	}
	if n := b.Limits.NanoCPUs; n > 0 {
		// The build API has no NanoCPUs: the same share as a quota per period.
		opts.CPUPeriod = 100_000
		opts.CPUQuota = n * opts.CPUPeriod / 1e9
	}
	var steps stepImages
	defer func() {
		pruneCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		s.pruneSteps(pruneCtx, b.Tag, steps.ids)
	}()
	res, err := s.docker.ImageBuild(ctx, b.Context, opts)
	if err != nil {
		return buildErr(ctx, fmt.Errorf("build image: %w", err))
	}
	defer res.Body.Close()
	if err := readBuildStream(res.Body, func(l Line) { steps.see(l.Text); onLine(l) }); err != nil {
		return buildErr(ctx, err)
	}
	return buildErr(ctx, nil)
}

// stepImages collects the images a classic build's steps made, from its
// output: the " ---> <id>" line after each step, except a FROM step's,
// which names an image the build did not make.
type stepImages struct {
	ids  []string
	from bool
}

var (
	stepLine  = regexp.MustCompile(`^Step \d+/\d+ : (\S+)`)
	layerLine = regexp.MustCompile(`^ ---> ([0-9a-f]{12,64})$`)
)

func (s *stepImages) see(line string) {
	if m := stepLine.FindStringSubmatch(line); m != nil {
		s.from = strings.EqualFold(m[1], "FROM")
		return
	}
	if m := layerLine.FindStringSubmatch(line); m != nil {
		if !s.from {
			s.ids = append(s.ids, m[1])
		}
		s.from = false
	}
}

// pruneSteps removes the images of a build's steps that no tag needs: all
// of a failed build's, and the earlier stages' of a multi-stage one. They
// are untagged, so nothing else would ever remove them. The final image is
// skipped, and its parents refuse removal (they have a child), so what the
// tag needs stays.
func (s *Sandbox) pruneSteps(ctx context.Context, tag string, ids []string) {
	final := ""
	if info, err := s.docker.ImageInspect(ctx, tag); err == nil {
		final = strings.TrimPrefix(info.ID, "sha256:")
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if final != "" && strings.HasPrefix(final, ids[i]) {
			continue
		}
		if _, err := s.docker.ImageRemove(ctx, ids[i], image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			s.log.Debug("remove a build step's image", slog.String("image", ids[i]), slog.Any("error", err))
		}
	}
}

// buildErr prefers the timeout or cancellation that cut a build short over
// the read error it caused.
func buildErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
		return fmt.Errorf("build image: %w", ErrTimeout)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readBuildStream turns the build's JSON messages into lines and returns the
// error the build ended with, if any.
func readBuildStream(r io.Reader, onLine func(Line)) error {
	w := newLineWriter("stdout", onLine)
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			w.flush()
			return nil
		} else if err != nil {
			w.flush()
			return fmt.Errorf("read build output: %w", err)
		}
		switch {
		case msg.ErrorDetail.Message != "":
			w.flush()
			return errors.New(msg.ErrorDetail.Message)
		case msg.Error != "":
			w.flush()
			return errors.New(msg.Error)
		case msg.Stream != "":
			w.Write([]byte(msg.Stream))
		case msg.Status != "":
			w.Write([]byte(msg.Status + "\n"))
		}
	}
}

// SaveImage streams `docker save` of ref (a tar holding its layers and tag).
func (s *Sandbox) SaveImage(ctx context.Context, ref string) (io.ReadCloser, error) {
	rc, err := s.docker.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, fmt.Errorf("save image %s: %w", ref, err)
	}
	return rc, nil
}

// LoadImage loads a `docker save` tar into the engine.
func (s *Sandbox) LoadImage(ctx context.Context, r io.Reader) error {
	res, err := s.docker.ImageLoad(ctx, r)
	if err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	defer res.Body.Close()
	if err := readPullStream(res.Body); err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	return nil
}

// HasImage reports whether ref is in the engine.
func (s *Sandbox) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := s.docker.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return true, nil
}

// RemoveImage removes the tag ref and the layers only it used. A missing
// image is not an error.
func (s *Sandbox) RemoveImage(ctx context.Context, ref string) error {
	_, err := s.docker.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}

// ImageExposedPort returns the lowest TCP port the image EXPOSEs, or 0.
func (s *Sandbox) ImageExposedPort(ctx context.Context, ref string) (int, error) {
	info, err := s.docker.ImageInspect(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config == nil {
		return 0, nil
	}
	var ports []int
	for p := range info.Config.ExposedPorts {
		num, proto, _ := strings.Cut(p, "/")
		if proto != "" && proto != "tcp" {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n > 0 && n < 65536 {
			ports = append(ports, n)
		}
	}
	if len(ports) == 0 {
		return 0, nil
	}
	sort.Ints(ports)
	return ports[0], nil
}
