package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// CopyIn is a tar stream to extract into the container before it starts.
type CopyIn struct {
	Dir string    // absolute directory in the container; created (with its parents) if missing; owned by Spec.User
	Tar io.Reader // a tar stream
}

// Limits caps what one container may use. Zero means no limit.
type Limits struct {
	MemoryBytes int64 // also the memory+swap limit, so the container cannot swap
	NanoCPUs    int64 // 1e9 is one CPU
	PidsLimit   int64
	// DiskBytes caps what the container writes to its own filesystem. The
	// engine's storage driver (overlay2 on ext4 here) cannot enforce a
	// size, so Run measures the container's writable layer every
	// diskPoll and kills it past the cap.
	DiskBytes int64
}

// diskPoll is how often Run measures a disk-limited container.
const diskPoll = 3 * time.Second

// Spec describes one container run.
type Spec struct {
	Image   string
	Cmd     []string // argv, e.g. []string{"sh", "-c", userScript}; never a host shell
	Env     []string // "K=V"
	WorkDir string
	User    string
	Labels  map[string]string // merged with LabelManaged=true
	Limits  Limits
	Timeout time.Duration // 0 = none
	Files   []CopyIn      // copied in before start; files and Dir owned by User (the stream's owners for root)
}

// Line is one line of output; Stream is "stdout" or "stderr".
type Line struct {
	Stream, Text string
}

// Result is what Run knows about a container once it has stopped.
type Result struct {
	ContainerID string
	ExitCode    int
	OOMKilled   bool // the kernel killed a process for exceeding Limits.MemoryBytes
}

// How long cleanup steps may take once the caller's context is gone, and how long output
// may keep arriving after a kill.
const (
	cleanupTimeout = 30 * time.Second
	startTimeout   = 2 * time.Minute
	drainTimeout   = 10 * time.Second
)

// Run creates the container, copies Files in, starts it, calls onLine for every output line
// (in order per stream, from one goroutine at a time; lines longer than 64 KiB are split; a
// trailing partial line is delivered; "\r\n" is trimmed), waits for it to exit, and returns.
//
// The container is not removed, so that output can be copied out of the stopped container:
// the caller calls Remove. If ctx is cancelled or Timeout elapses, the container is killed and
// Run waits for it to stop, then returns ctx.Err() or ErrTimeout (wrapped) with the Result.
// If anything fails before the container runs, it is removed and Result is empty.
func (s *Sandbox) Run(ctx context.Context, spec Spec, onLine func(Line)) (Result, error) {
	if onLine == nil {
		onLine = func(Line) {}
	}
	if spec.Image == "" || len(spec.Cmd) == 0 {
		return Result{}, errors.New("run container: image and command are required")
	}
	cfg, hostCfg := containerConfig(spec)
	netID, err := s.network(ctx)
	if err != nil {
		return Result{}, err
	}
	hostCfg.NetworkMode = container.NetworkMode(netID)
	created, err := s.docker.ContainerCreate(ctx, cfg, hostCfg, nil, nil, "")
	if err != nil {
		return Result{}, fmt.Errorf("create container from %s: %w", spec.Image, err)
	}
	id := created.ID
	log := s.log.With(slog.String("container", shortID(id)))
	for _, w := range created.Warnings {
		log.WarnContext(ctx, "docker create warning", slog.String("warning", w))
	}
	// Detached from ctx: cleanup must run even when ctx is the reason for it.
	bg := context.WithoutCancel(ctx)
	abandon := func(err error) (Result, error) {
		rmCtx, cancel := context.WithTimeout(bg, cleanupTimeout)
		defer cancel()
		if rerr := s.Remove(rmCtx, id); rerr != nil {
			log.ErrorContext(ctx, "remove failed container", slog.Any("error", rerr))
		}
		return Result{}, err
	}

	if len(spec.Files) > 0 {
		own, err := s.fileOwner(ctx, id, spec.User)
		if err != nil {
			return abandon(fmt.Errorf("copy into container: %w", err))
		}
		for _, f := range spec.Files {
			if err := s.copyIn(ctx, id, f, own); err != nil {
				return abandon(err)
			}
		}
	}

	// Attach before start, as `docker run` does: the daemon then holds the output for us
	// from the first byte, so a container that exits at once loses nothing.
	hj, err := s.docker.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return abandon(fmt.Errorf("attach to container: %w", err))
	}
	defer hj.Close()
	outDone := make(chan error, 1)
	go func() {
		stdout := newLineWriter("stdout", onLine)
		stderr := newLineWriter("stderr", onLine)
		_, err := stdcopy.StdCopy(stdout, stderr, hj.Reader)
		stdout.flush()
		stderr.flush()
		outDone <- err
	}()

	// next-exit must be registered before start, or a fast exit could be missed. The wait
	// outlives ctx: after a cancel we still wait for the killed container to stop.
	waitCtx, waitCancel := context.WithCancel(bg)
	defer waitCancel()
	waitC, waitErrC := s.docker.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	// Once started the process may print, and onLine may cancel ctx, before the start call
	// returns: so ctx is checked first and the start itself is not cancelled by it.
	startCtx, cancelStart := context.WithTimeout(bg, startTimeout)
	defer cancelStart()
	err = ctx.Err()
	if err == nil {
		err = s.docker.ContainerStart(startCtx, id, container.StartOptions{})
	}
	if err != nil {
		hj.Close()
		<-outDone
		waitCancel()
		select {
		case <-waitC:
		case <-waitErrC:
		}
		return abandon(fmt.Errorf("start container: %w", err))
	}

	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(runCtx, spec.Timeout, ErrTimeout)
		defer cancel()
	}
	if spec.Limits.DiskBytes > 0 {
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			s.watchDisk(runCtx, id, spec.Limits.DiskBytes, stopRun)
		}()
		defer func() { <-watched }()
		defer stopRun(nil) // runs first: ends the watch
	}

	res := Result{ContainerID: id, ExitCode: -1}
	var runErr error
	status := container.WaitResponse{StatusCode: -1}
	select {
	case status = <-waitC:
	case err := <-waitErrC:
		runErr = fmt.Errorf("wait for container: %w", err)
		// Its state is unknown now; make sure it is not left running.
		killCtx, cancel := context.WithTimeout(bg, cleanupTimeout)
		_ = s.docker.ContainerKill(killCtx, id, "KILL")
		cancel()
	case <-runCtx.Done():
		switch {
		case ctx.Err() != nil:
			runErr = fmt.Errorf("run container: %w", ctx.Err())
		case errors.Is(context.Cause(runCtx), ErrDiskLimit):
			runErr = fmt.Errorf("run container: %w (%d MiB)", ErrDiskLimit, spec.Limits.DiskBytes>>20)
		default:
			runErr = fmt.Errorf("run container: %w after %s", ErrTimeout, spec.Timeout)
		}
		log.InfoContext(bg, "killing container", slog.Any("reason", runErr))
		status, err = s.kill(bg, id, waitC, waitErrC)
		if err != nil {
			log.ErrorContext(bg, "kill container", slog.Any("error", err))
		}
	}
	if status.Error != nil && status.Error.Message != "" && runErr == nil {
		runErr = fmt.Errorf("wait for container: %s", status.Error.Message)
	}
	res.ExitCode = int(status.StatusCode)

	// The daemon ends the attach stream once it has sent the last byte of output; waiting for
	// that (not a sleep) is what guarantees the caller has every line when Run returns. No
	// time limit applies while onLine is slow (a consumer applying back-pressure), except
	// once the caller has given up: then the rest of the output is worth drainTimeout.
	var outErr error
	select {
	case outErr = <-outDone:
	case <-runCtx.Done():
		select {
		case outErr = <-outDone:
		case <-time.After(drainTimeout):
			log.WarnContext(bg, "container output did not end after the kill; closing it")
			hj.Close()
			<-outDone
		}
	}
	if outErr != nil {
		log.WarnContext(bg, "read container output", slog.Any("error", outErr))
	}

	inspCtx, cancel := context.WithTimeout(bg, cleanupTimeout)
	defer cancel()
	if info, err := s.docker.ContainerInspect(inspCtx, id); err == nil && info.State != nil {
		res.OOMKilled = info.State.OOMKilled
	}
	return res, runErr
}

// watchDisk measures the container's writable layer every diskPoll until
// ctx ends, and stops the run with ErrDiskLimit once it holds more than
// limit bytes.
func (s *Sandbox) watchDisk(ctx context.Context, id string, limit int64, stop context.CancelCauseFunc) {
	t := time.NewTicker(diskPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		info, _, err := s.docker.ContainerInspectWithRaw(ctx, id, true)
		if err != nil || info.SizeRw == nil {
			continue
		}
		if *info.SizeRw > limit {
			stop(ErrDiskLimit)
			return
		}
	}
}

// kill sends SIGKILL and waits for the container to stop, bounded by cleanupTimeout.
func (s *Sandbox) kill(ctx context.Context, id string, waitC <-chan container.WaitResponse, waitErrC <-chan error) (container.WaitResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	// An error here usually means it already exited; the wait below tells for sure.
	killErr := s.docker.ContainerKill(ctx, id, "KILL")
	select {
	case st := <-waitC:
		return st, nil
	case err := <-waitErrC:
		return container.WaitResponse{StatusCode: -1}, errors.Join(killErr, err)
	case <-ctx.Done():
		return container.WaitResponse{StatusCode: -1}, errors.Join(killErr, fmt.Errorf("container did not stop: %w", ctx.Err()))
	}
}

// containerConfig turns a Spec into the engine's create request. Nothing from the host is
// mounted, the Docker socket least of all.
func containerConfig(spec Spec) (*container.Config, *container.HostConfig) {
	labels := make(map[string]string, len(spec.Labels)+1)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	cfg := &container.Config{
		Image:        spec.Image,
		Cmd:          spec.Cmd,
		Env:          spec.Env,
		WorkingDir:   spec.WorkDir,
		User:         spec.User,
		Labels:       labels,
		AttachStdout: true,
		AttachStderr: true,
	}
	res := container.Resources{NanoCPUs: spec.Limits.NanoCPUs}
	if m := spec.Limits.MemoryBytes; m > 0 {
		res.Memory = m
		res.MemorySwap = m
	}
	if p := spec.Limits.PidsLimit; p > 0 {
		res.PidsLimit = &p
	}
	// Root in the container keeps these capabilities; everything else is dropped. Docker's default
	// set also grants NET_RAW (forged packets on the bridge that other users' servers share),
	// MKNOD, SYS_CHROOT, SETPCAP, SETFCAP, AUDIT_WRITE, NET_BIND_SERVICE and KILL, none of which
	// an install and build needs. A plain `npm install` + `vite build` even runs with none at all,
	// but root without DAC_OVERRIDE/FOWNER cannot write into or remove read-only directories that
	// package tarballs and build tools create, CHOWN/FSETID let npm and tar keep file owners and
	// modes when extracting, and SETUID/SETGID let scripts drop to an unprivileged user (su,
	// npm's own uid switching). no-new-privileges keeps setuid binaries and file capabilities
	// from granting more than this.
	hostCfg := &container.HostConfig{
		NetworkMode: "bridge", // replaced by berth's network (see UseNetwork); builds need the package registry
		CapDrop:     []string{"ALL"},
		CapAdd:      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID"},
		SecurityOpt: []string{"no-new-privileges"},
		Resources:   res,
		// Output reaches us through attach; the daemon's own copy must not let a noisy
		// build fill the host's disk.
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "1"}},
	}
	return cfg, hostCfg
}
