package builder

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// The Dockerfile rule: a project whose dockerfile_path setting names a
// file, or with a file named Dockerfile in its root directory, is built
// with the Docker engine from that file, its root directory the build
// context, and runs as its own image. It comes before every other rule,
// since a repository that ships a Dockerfile says how it runs; a project
// whose output_dir or start_command is set asks for another row and keeps
// it (a set dockerfile_path wins over both).
const defaultDockerfile = "Dockerfile"

// defaultImagePort is where an image's server is expected to listen when
// the project sets no port and the image EXPOSEs none: the port most Node
// frameworks choose.
const defaultImagePort = 3000

// dockerfileFor returns the Dockerfile a job builds (a slash path relative
// to its root directory), or "" when the rule above does not apply.
func dockerfileFor(projectDir *os.Root, job queue.BuildJob) (string, error) {
	if job.DockerfilePath != "" {
		name := path.Clean(job.DockerfilePath)
		fi, err := projectDir.Stat(filepath.FromSlash(name))
		if err != nil || !fi.Mode().IsRegular() {
			return "", fmt.Errorf("the Dockerfile %q set on the project is not a file in the root directory", job.DockerfilePath)
		}
		return name, nil
	}
	if job.OutputDir != "" || job.StartCommand != "" {
		return "", nil
	}
	fi, err := projectDir.Stat(defaultDockerfile)
	if err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	return defaultDockerfile, nil
}

// buildDockerfile builds the project's image with the engine's classic
// builder, build env vars as build args, its output streamed to the build
// log; then stores it as a gzipped `docker save` archive and a manifest
// with the port it listens on. It leaves the image on the engine only
// when Config.KeepImages says the engine runs the app servers too.
func (p *Pool) buildDockerfile(ctx context.Context, job queue.BuildJob, src, dockerfile string, env map[string]string, em *emitter) (queue.Event, error) {
	contextDir, err := buildContextDir(src, job.RootDir)
	if err != nil {
		return queue.Event{}, err
	}
	em.system("Detected %s: will build it with the Docker engine and run the image as the server.", path.Join(job.RootDir, dockerfile))
	contextRoot, err := os.OpenRoot(contextDir)
	if err != nil {
		return queue.Event{}, fmt.Errorf("open the build context: %w", err)
	}
	skip, err := dockerignore(contextRoot, dockerfile)
	contextRoot.Close()
	if err != nil {
		return queue.Event{}, err
	}
	if len(env) > 0 {
		em.system("Build args from the build environment variables: %s.", strings.Join(sortedKeys(env), ", "))
	}

	pr, pw := io.Pipe()
	tarred := make(chan struct{})
	go func() {
		defer close(tarred)
		pw.CloseWithError(sandbox.TarDir(pw, contextDir, "", skip))
	}()
	defer func() {
		pr.Close() // ends the tar stream if the engine stopped reading early
		<-tarred
	}()
	tag := model.AppImage(job.DeploymentID)
	started := time.Now()
	err = p.sb.BuildImage(ctx, sandbox.ImageBuild{
		Context:    pr,
		Dockerfile: dockerfile,
		Tag:        tag,
		Args:       env,
		// Each label is a step of the classic builder: only the one that
		// ties a leftover image to its deployment.
		Labels:  map[string]string{sandbox.LabelDeployment: job.DeploymentID},
		Limits:  p.cfg.Limits,
		Timeout: p.cfg.Timeout,
		// The engine's layer cache is shared by every project on it and
		// keyed by the parent layer and a step's text: a step would take
		// the layer another tenant's build made (with whatever that build
		// fetched) for its own.
		NoCache: true,
	}, func(l sandbox.Line) { em.line(l.Stream, l.Text) })
	// The image leaves this engine when its deployment failed, or once
	// stored unless the engine runs the app servers too: the host that
	// runs it loads it from the archive.
	stored := false
	defer func() {
		if stored && p.cfg.KeepImages {
			return
		}
		p.later(func() {
			rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := p.sb.RemoveImage(rmCtx, tag); err != nil {
				em.log.Warn("remove built image", slog.Any("error", err))
			}
		})
	}()
	switch {
	case errors.Is(err, sandbox.ErrTimeout):
		return queue.Event{}, fmt.Errorf("the build took longer than %s and was stopped", p.cfg.Timeout)
	case err != nil && ctx.Err() != nil:
		return queue.Event{}, err
	case err != nil:
		return queue.Event{}, fmt.Errorf("the Docker build failed: %w", err)
	}
	em.system("Build finished in %s.", time.Since(started).Round(100*time.Millisecond))

	port := job.Port
	how := "the project's port setting"
	if port == 0 {
		exposed, err := p.sb.ImageExposedPort(ctx, tag)
		if err != nil {
			return queue.Event{}, err
		}
		port, how = exposed, "the image's EXPOSE"
		if port == 0 {
			port, how = defaultImagePort, "no EXPOSE in the image and no port set on the project"
		}
	}
	em.system("The image's server will get PORT=%d and is expected to listen on it (%s).", port, how)

	if err := em.state(ctx, queue.Event{State: model.StateUploading}); err != nil {
		return queue.Event{}, err
	}
	prefix := model.ArtifactPrefix(job.DeploymentID)
	if err := p.uploadImage(ctx, tag, prefix, port, em); err != nil {
		p.dropPartial(ctx, prefix)
		return queue.Event{}, err
	}
	stored = true
	return queue.Event{State: model.StateReady, OutputType: model.OutputDockerImage, ArtifactKey: prefix}, nil
}

// buildContextDir is the project's root directory on the host, refused when
// a link in the repository leads it out of the clone.
func buildContextDir(src, rootDir string) (string, error) {
	base, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", fmt.Errorf("resolve the clone: %w", err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(src, filepath.FromSlash(rootDir)))
	if err != nil {
		return "", fmt.Errorf("resolve the root directory: %w", err)
	}
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("the root directory %q leads out of the repository", rootDir)
	}
	return dir, nil
}

// uploadImage stores `docker save` of tag, gzipped, and then the manifest.
func (p *Pool) uploadImage(ctx context.Context, tag, prefix string, port int, em *emitter) error {
	started := time.Now()
	saved, err := p.sb.SaveImage(ctx, tag)
	if err != nil {
		return err
	}
	defer saved.Close()
	pr, pw := io.Pipe()
	var size atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		cw := &countingWriter{w: pw, n: &size}
		zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
		n, err := io.Copy(zw, io.LimitReader(saved, maxOutputBytes+1))
		if err == nil && n > maxOutputBytes {
			err = fmt.Errorf("the image is larger than %s", humanize.Bytes(maxOutputBytes))
		}
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	err = p.store.Put(ctx, prefix+model.ImageArchive, pr, -1, "application/gzip")
	pr.CloseWithError(err) // ends the copy if the upload stopped early
	<-done
	if err != nil {
		return fmt.Errorf("upload image archive: %w", err)
	}
	manifest := &artifacts.Manifest{OutputType: model.OutputDockerImage, Files: map[string]artifacts.ManifestFile{}, Port: port}
	if err := artifacts.PutManifest(ctx, p.store, prefix, manifest); err != nil {
		return err
	}
	em.system("Uploaded the image archive (%s) in %s.", humanize.Bytes(size.Load()), time.Since(started).Round(10*time.Millisecond))
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
