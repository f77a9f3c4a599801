package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/humanize"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// buildScript is the fixed program the container runs. The project's own
// commands reach it as environment variables and run through `sh -c` inside
// the sandbox; nothing from the user is ever spliced into a shell string.
const buildScript = `set -e
if [ -n "$BERTH_INSTALL_COMMAND" ]; then (cd "${BERTH_INSTALL_DIR:-.}" && sh -c "$BERTH_INSTALL_COMMAND"); fi
if [ -n "$BERTH_BUILD_COMMAND" ]; then sh -c "$BERTH_BUILD_COMMAND"; fi
if [ -n "$BERTH_PRUNE_COMMAND" ]; then (cd "${BERTH_INSTALL_DIR:-.}" && sh -c "$BERTH_PRUNE_COMMAND"); fi
`

const caPath = "/etc/berth/extra-ca.pem"

// runBuild runs install and build in a fresh container and returns its id
// (also on failure, for the caller to remove).
func (p *Pool) runBuild(ctx context.Context, job queue.BuildJob, commit Commit, src string, cmds Commands, env map[string]string, cached []sandbox.CopyIn, em *emitter) (string, error) {
	if err := p.sb.EnsureImage(ctx, p.cfg.Image); err != nil {
		return "", err
	}
	vars := []string{
		"CI=1", "HOME=/root", "BERTH=1",
		"BERTH_DEPLOYMENT_ID=" + job.DeploymentID,
		"BERTH_GIT_COMMIT_SHA=" + commit.SHA,
		"BERTH_GIT_BRANCH=" + commit.Branch,
		"npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false",
		"NEXT_TELEMETRY_DISABLED=1", "COREPACK_ENABLE_DOWNLOAD_PROMPT=0",
	}
	vars = append(vars, cmds.Env...) // the project's own variables below win
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "BERTH_INSTALL_COMMAND="+cmds.Install, "BERTH_BUILD_COMMAND="+cmds.Build)
	if cmds.InstallDir != "" {
		vars = append(vars, "BERTH_INSTALL_DIR="+cmds.InstallDir)
	}
	if cmds.Server != nil && cmds.Server.Prune != "" {
		vars = append(vars, "BERTH_PRUNE_COMMAND="+cmds.Server.Prune)
	}

	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(sandbox.TarDir(pw, src, "", func(rel string, isDir bool) bool {
			return rel == ".git"
		}))
	}()
	defer pr.Close()
	files := append([]sandbox.CopyIn{{Dir: "/workspace", Tar: pr}}, cached...)
	if p.cfg.ExtraCAFile != "" {
		ca, err := caTar(p.cfg.ExtraCAFile)
		if err != nil {
			return "", fmt.Errorf("read extra CA file: %w", err)
		}
		files = append(files, sandbox.CopyIn{Dir: path.Dir(caPath), Tar: ca})
		vars = append(vars, "NODE_EXTRA_CA_CERTS="+caPath, "SSL_CERT_FILE="+caPath)
	}

	if cmds.Install != "" {
		em.system("Install: %s", cmds.Install)
	}
	if cmds.Build != "" {
		em.system("Build: %s", cmds.Build)
	}
	if cmds.Server != nil && cmds.Server.Prune != "" {
		em.system("Prune: %s", cmds.Server.Prune)
	}
	if cmds.Install == "" && cmds.Build == "" && cmds.Server == nil {
		em.system("No package.json and no commands set: serving the files as they are.")
	}
	started := time.Now()
	res, err := p.sb.Run(ctx, sandbox.Spec{
		Image:   p.cfg.Image,
		Cmd:     []string{"sh", "-c", buildScript},
		Env:     vars,
		WorkDir: path.Join("/workspace", job.RootDir),
		Labels: map[string]string{
			sandbox.LabelRole:       "build",
			sandbox.LabelInstance:   p.cfg.Instance,
			sandbox.LabelDeployment: job.DeploymentID,
		},
		Limits:  p.cfg.Limits,
		Timeout: p.cfg.Timeout,
		Files:   files,
	}, func(l sandbox.Line) { em.line(l.Stream, l.Text) })
	switch {
	case errors.Is(err, sandbox.ErrTimeout):
		return res.ContainerID, fmt.Errorf("the build took longer than %s and was stopped", p.cfg.Timeout)
	case errors.Is(err, sandbox.ErrDiskLimit):
		return res.ContainerID, fmt.Errorf("the build wrote more than %s to disk and was stopped", humanize.Bytes(p.cfg.Limits.DiskBytes))
	case err != nil:
		return res.ContainerID, err
	case res.OOMKilled:
		return res.ContainerID, fmt.Errorf("the build ran out of memory (limit %s) and was killed", humanize.Bytes(p.cfg.Limits.MemoryBytes))
	case res.ExitCode == 137:
		return res.ContainerID, fmt.Errorf("the build was killed (exit code 137), most likely for using more than its %s memory limit", humanize.Bytes(p.cfg.Limits.MemoryBytes))
	case res.ExitCode != 0:
		return res.ContainerID, fmt.Errorf("the build command failed with exit code %d", res.ExitCode)
	}
	em.system("Build finished in %s.", time.Since(started).Round(100*time.Millisecond))
	return res.ContainerID, nil
}

func caTar(file string) (io.Reader, error) {
	data, err := readSmallFile(file, 8<<20)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: path.Base(caPath), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// upload copies the output out of the stopped container, uploads its files
// and then the manifest, which marks the artifact complete.
func (p *Pool) upload(ctx context.Context, containerID string, out output, dir, prefix string, em *emitter) error {
	switch out.Type {
	case model.OutputNextStandalone:
		return p.uploadNext(ctx, containerID, out.Dir, dir, prefix, em)
	case model.OutputNodeServer:
		if out.Client != "" {
			return p.uploadFrameworkServer(ctx, containerID, out, dir, prefix, em)
		}
		return p.uploadNodeServer(ctx, containerID, out, dir, prefix, em)
	}
	if err := p.copyOut(ctx, containerID, out.Dir, dir); err != nil {
		return err
	}
	if out.Root {
		// A plain site is the repository itself: keep dependencies and
		// local secrets out of what is served.
		for _, name := range []string{"node_modules", ".git", ".env", ".env.local", ".env.production"} {
			os.RemoveAll(filepath.Join(dir, name))
		}
	}
	manifest, err := artifacts.BuildManifest(dir, out.Type)
	if err != nil {
		return err
	}
	if len(manifest.Files) == 0 {
		return errors.New("the build output is empty")
	}
	started := time.Now()
	n, size, err := artifacts.UploadDir(ctx, p.store, dir, prefix+model.FilesDir, p.cfg.UploadParallel)
	if err != nil {
		return fmt.Errorf("upload output: %w", err)
	}
	if err := artifacts.PutManifest(ctx, p.store, prefix, manifest); err != nil {
		return err
	}
	em.system("Uploaded %d files (%s) in %s.", n, humanize.Bytes(size), time.Since(started).Round(10*time.Millisecond))
	return nil
}

// copyOut extracts a folder of the stopped container into dir.
func (p *Pool) copyOut(ctx context.Context, containerID, src, dir string) error {
	rc, err := p.sb.CopyOut(ctx, containerID, src)
	if err != nil {
		return fmt.Errorf("copy %s out of the container: %w", src, err)
	}
	defer rc.Close()
	if err := sandbox.UntarTo(rc, dir, 1, maxOutputBytes); err != nil {
		return fmt.Errorf("extract %s: %w", src, err)
	}
	return nil
}
