package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/sandbox"
)

const buildTimeout = 15 * time.Minute

// builds compares, for the create-next-app template, berth's API call to
// ready with the same `npm install && npm run build` run directly in a
// container, and a rebuild of the unchanged commit (build cache warm) with
// the first build. Each round deploys a new project, so its first build
// starts with an empty cache like the baseline.
func (b *bench) builds(ctx context.Context) error {
	if err := b.ensureNextRepo(); err != nil {
		return err
	}
	sb, err := sandbox.New(ctx, nil)
	if err != nil {
		return err
	}
	defer sb.Close()
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	var base, first, again []float64
	var raw, rawRe []string
	for i := range b.o.buildRounds {
		var bt, ft, at time.Duration
		var fd deployment
		var basePhases string
		runBase := func() (err error) { bt, basePhases, err = b.directBuild(ctx, sb); return }
		runBerth := func() error {
			var err error
			_, fd, ft, err = b.main.deployRepo(ctx, fmt.Sprintf("next bench %d", i+1), b.nextDir, nil, buildTimeout)
			if err != nil {
				return err
			}
			if err := settled(ctx, dc, fd.ID); err != nil {
				return err
			}
			started := time.Now()
			d, err := b.main.redeploy(ctx, fd.ID)
			if err != nil {
				return err
			}
			if d, err = b.main.waitDone(ctx, d.ID, buildTimeout); err != nil {
				return err
			}
			at = time.Since(started)
			if err := settled(ctx, dc, d.ID); err != nil {
				return err
			}
			if d.OutputType != "nextjs-standalone" {
				return fmt.Errorf("deployment %s: output %q, want nextjs-standalone", d.ID, d.OutputType)
			}
			b.nextDep = &d
			return nil
		}
		steps := []func() error{runBase, runBerth}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		base, first, again = append(base, bt.Seconds()), append(first, ft.Seconds()), append(again, at.Seconds())
		raw = append(raw, fmt.Sprintf("round %d: berth %.1f s (%s); direct container %.1f s (%s)", i+1, ft.Seconds(), b.phases(ctx, fd.ID), bt.Seconds(), basePhases))
		rawRe = append(rawRe, fmt.Sprintf("round %d: rebuild %.1f s (%s); first build %.1f s", i+1, at.Seconds(), b.phases(ctx, b.nextDep.ID), ft.Seconds()))
		b.log.Info("build round", slog.Int("round", i+1), slog.Duration("direct", bt), slog.Duration("berth", ft), slog.Duration("rebuild", at))
	}
	over := median(first) / median(base)
	b.r.add(row{Name: "deploy create-next-app: API call to ready", Berth: fmt.Sprintf("%.1f s", median(first)),
		Baseline: fmt.Sprintf("direct container %.1f s", median(base)), Compare: ratio(over), Target: "≤ 1.10×", Met: over <= 1.10, Raw: raw})
	re := median(again) / median(first)
	b.r.add(row{Name: "rebuild of an unchanged commit (build cache)", Berth: fmt.Sprintf("%.1f s", median(again)),
		Baseline: fmt.Sprintf("first build %.1f s", median(first)), Compare: ratio(re), Target: "≤ 0.5×", Met: re <= 0.5, Raw: rawRe})
	return nil
}

// settled waits until berth has finished a deployment's work in the
// background after ready (saving the build cache, removing the build
// container), so that it does not run into the next measurement; the
// direct build's container is likewise removed outside its timing.
func settled(ctx context.Context, dc *client.Client, deploymentID string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", "dev.berth.deployment="+deploymentID), filters.Arg("label", "dev.berth.role=build"))})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the build container of %s was not removed within 2 minutes of ready", deploymentID)
}

// ensureNextRepo writes and commits the Next.js app once.
func (b *bench) ensureNextRepo() error {
	if b.nextDir != "" {
		return nil
	}
	dir := mkdir(b.o.work, "nextapp")
	if err := nextApp(dir, b.o.fixtures); err != nil {
		return err
	}
	if err := commitRepo(dir); err != nil {
		return err
	}
	b.nextDir = dir
	return nil
}

// ensureNextDeployment deploys the Next.js app when no build section left
// one behind.
func (b *bench) ensureNextDeployment(ctx context.Context) error {
	if b.nextDep != nil {
		return nil
	}
	if err := b.ensureNextRepo(); err != nil {
		return err
	}
	_, d, _, err := b.main.deployRepo(ctx, "next ssr", b.nextDir, nil, buildTimeout)
	if err != nil {
		return err
	}
	b.nextDep = &d
	return nil
}

var (
	installDoneRe = regexp.MustCompile(`^(added|removed|changed) \d+ packages?|^up to date`)
	cacheLineRe   = regexp.MustCompile(`^(Restored|Saved) build cache \(([^)]*)\)`)
)

// phases splits a deployment's time by its log lines' timestamps: queue and
// clone until the install starts, install, the app's build, and the rest
// (output detection, upload, cache save), plus what the build cache did.
func (b *bench) phases(ctx context.Context, id string) string {
	lines, created, err := b.main.timeline(ctx, id)
	if err != nil || len(lines) == 0 {
		return "no timeline: " + fmt.Sprint(err)
	}
	var start, installed, built time.Time
	var notes []string
	for _, l := range lines {
		switch {
		case start.IsZero() && (strings.HasPrefix(l.Text, "Install: ") || strings.HasPrefix(l.Text, "Build: ")):
			start = l.At
		case installed.IsZero() && installDoneRe.MatchString(l.Text):
			installed = l.At
		case strings.HasPrefix(l.Text, "Install: skipped"):
			start, installed = l.At, l.At
		case strings.HasPrefix(l.Text, "Build finished in"):
			built = l.At
		}
		if m := cacheLineRe.FindStringSubmatch(l.Text); m != nil {
			notes = append(notes, strings.ToLower(m[1])+" "+m[2])
		}
	}
	end := lines[len(lines)-1].At
	if start.IsZero() || installed.IsZero() || built.IsZero() {
		return "incomplete timeline"
	}
	out := fmt.Sprintf("before install %.1f s, install %.1f s, build %.1f s, after %.1f s", start.Sub(created).Seconds(),
		installed.Sub(start).Seconds(), built.Sub(installed).Seconds(), end.Sub(built).Seconds())
	if len(notes) > 0 {
		out += "; " + strings.Join(notes, "; ")
	}
	return out
}

// directBuild runs what berth runs for this app, `npm install && npm run
// build`, in a fresh container from the same image with the same limits and
// environment, from container creation to exit.
func (b *bench) directBuild(ctx context.Context, sb *sandbox.Sandbox) (time.Duration, string, error) {
	files := []sandbox.CopyIn{}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(sandbox.TarDir(pw, b.nextDir, "", func(rel string, isDir bool) bool { return rel == ".git" }))
	}()
	defer pr.Close()
	files = append(files, sandbox.CopyIn{Dir: "/workspace", Tar: pr})
	env := []string{"CI=1", "HOME=/root", "npm_config_fund=false", "npm_config_audit=false", "npm_config_update_notifier=false", "NEXT_TELEMETRY_DISABLED=1"}
	if b.o.caFile != "" {
		ca, err := os.Open(b.o.caFile)
		if err != nil {
			return 0, "", err
		}
		defer ca.Close()
		caDir := mkdir(b.o.work, "ca")
		data, err := io.ReadAll(ca)
		if err != nil {
			return 0, "", err
		}
		if err := os.WriteFile(filepath.Join(caDir, "extra-ca.pem"), data, 0o644); err != nil {
			return 0, "", err
		}
		tr, tw := io.Pipe()
		go func() { tw.CloseWithError(sandbox.TarDir(tw, caDir, "", nil)) }()
		defer tr.Close()
		files = append(files, sandbox.CopyIn{Dir: "/etc/berth", Tar: tr})
		env = append(env, "NODE_EXTRA_CA_CERTS=/etc/berth/extra-ca.pem", "SSL_CERT_FILE=/etc/berth/extra-ca.pem")
	}
	var tail []string
	var installed time.Time
	started := time.Now()
	res, err := sb.Run(ctx, sandbox.Spec{
		Image:   b.o.image,
		Cmd:     []string{"sh", "-c", "npm install && npm run build"},
		Env:     env,
		WorkDir: "/workspace",
		Labels:  map[string]string{sandbox.LabelRole: "bench"},
		Limits:  sandbox.Limits{MemoryBytes: 4096 << 20, NanoCPUs: 2e9, PidsLimit: 4096},
		Timeout: buildTimeout,
		Files:   files,
	}, func(l sandbox.Line) {
		if installed.IsZero() && installDoneRe.MatchString(l.Text) {
			installed = time.Now()
		}
		if tail = append(tail, l.Text); len(tail) > 40 {
			tail = tail[1:]
		}
	})
	took := time.Since(started)
	if res.ContainerID != "" {
		sb.Remove(context.WithoutCancel(ctx), res.ContainerID)
	}
	if err != nil {
		return 0, "", err
	}
	if res.ExitCode != 0 || installed.IsZero() {
		return 0, "", fmt.Errorf("direct build exited %d:\n%s", res.ExitCode, strings.Join(tail, "\n"))
	}
	return took, fmt.Sprintf("install %.1f s, build %.1f s", installed.Sub(started).Seconds(), started.Add(took).Sub(installed).Seconds()), nil
}
