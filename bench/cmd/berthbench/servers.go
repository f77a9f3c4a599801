package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// coldPath is the route of the server apps that is rendered per request.
const coldPath = "/now"

// idleMain restarts the main berth with a server idle timeout of 1 s, once,
// so that the cold start sections find their servers stopped as production
// does after its idle timeout (the reaper looks every 15 s).
func (b *bench) idleMain(ctx context.Context) error {
	if b.idle {
		return nil
	}
	b.main.stop()
	p, err := startBerth(ctx, b.o, b.main.dataDir, "BERTH_SERVER_IDLE_TIMEOUT=1s")
	if err != nil {
		return err
	}
	b.main, b.idle = p, true
	return nil
}

// serverKind is one kind of server deployment the servers section starts.
type serverKind struct {
	name   string // in the row's name
	output string // the deployment's output type
	write  func(dir string) error
	dep    *deployment // reused when an earlier section deployed it
}

// servers compares, for each kind of server deployment other than Next.js
// (a plain Express server, SvelteKit with adapter-node, an image built from
// a Dockerfile), the first byte of coldPath from an idle deployment with the
// same start command run bare in a container of the same image: the cold
// row of ssr.go, per kind. The bare container holds the same server bundle
// (for a Node server) and runs the manifest's start command with the
// variables berth sets; for a Dockerfile deployment it is the deployment's
// own image with its own command and PORT.
func (b *bench) servers(ctx context.Context) error {
	kinds := []serverKind{
		{name: "Express (node-server, npm start)", output: "node-server", write: func(dir string) error { return expressApp(dir, b.o.fixtures) }},
		{name: "SvelteKit adapter-node (node build)", output: "node-server", write: svelteKitApp, dep: b.svelteDep},
		{name: "Dockerfile image", output: "docker-image", write: func(dir string) error { return dockerApp(dir, b.o.image) }},
	}
	for i := range kinds {
		k := &kinds[i]
		if k.dep != nil {
			continue
		}
		dir := mkdir(b.o.work, "server")
		if err := k.write(dir); err != nil {
			return err
		}
		if _, err := commitAll(dir, true); err != nil {
			return err
		}
		_, d, took, err := b.main.deployRepo(ctx, fmt.Sprintf("cold server %d", i+1), dir, nil, buildTimeout)
		if err != nil {
			return err
		}
		if d.OutputType != k.output {
			return fmt.Errorf("deployment %s (%s): output %q, want %s", d.ID, k.name, d.OutputType, k.output)
		}
		b.log.Info("deployed", slog.String("kind", k.name), slog.Duration("took", took))
		k.dep = &d
	}
	if err := b.idleMain(ctx); err != nil {
		return err
	}
	for _, k := range kinds {
		if err := b.coldKind(ctx, k); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
	}
	return nil
}

// coldKind measures one kind, in alternating rounds.
func (b *bench) coldKind(ctx context.Context, k serverKind) error {
	d := *k.dep
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	bare, err := b.bareSpec(d)
	if err != nil {
		return err
	}
	p := b.main
	first, err := firstByte(ctx, p.url(coldPath), d.host())
	if err != nil {
		return err
	}
	var berth, base []float64
	raw := []string{fmt.Sprintf("first start after berth started (no stopped container to reuse): %s", ms(first))}
	for i := range b.o.rounds {
		var bt, nt time.Duration
		viaBerth := func() error {
			if _, err := firstByte(ctx, p.url(coldPath), d.host()); err != nil {
				return err
			}
			if err := waitIdle(ctx, dc, d.ID); err != nil {
				return err
			}
			var err error
			bt, err = firstByte(ctx, p.url(coldPath), d.host())
			return err
		}
		viaBare := func() (err error) { nt, err = bareContainer(ctx, dc, bare); return }
		if err := alternate(i, viaBerth, viaBare); err != nil {
			return err
		}
		berth, base = append(berth, float64(bt)/1e6), append(base, float64(nt)/1e6)
		raw = append(raw, fmt.Sprintf("round %d: berth %s; bare %s", i+1, ms(bt), ms(nt)))
	}
	raw = append(raw, "berth's log for this deployment: "+startCounts(p.logText(), d.ID))
	added := median(berth) - median(base)
	b.r.add(row{Name: "cold start: first byte from an idle " + k.name + " deployment", Berth: fmtMs(median(berth)),
		Baseline: "bare " + fmtArgv(bare.cmd) + " " + fmtMs(median(base)), Compare: fmt.Sprintf("%+.0f ms", added),
		Target: "≤ bare + 300 ms", Met: added <= 300, Raw: raw})
	return nil
}

// bareSpec is what berth runs for d, read from its manifest as apps/ does:
// a Node server's start command in /app with the bundle and the variables
// berth sets; a Dockerfile image's own command with PORT.
func (b *bench) bareSpec(d deployment) (bareSpec, error) {
	dir := filepath.Join(b.main.dataDir, "artifacts", "deployments", d.ID)
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return bareSpec{}, fmt.Errorf("read manifest: %w", err)
	}
	var m struct {
		Start []string `json:"start"`
		Port  int      `json:"port"`
		Env   []string `json:"env"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return bareSpec{}, fmt.Errorf("decode manifest: %w", err)
	}
	if d.OutputType == "docker-image" {
		if m.Port == 0 {
			return bareSpec{}, fmt.Errorf("manifest of %s has no port", d.ID)
		}
		return bareSpec{image: "berth-app:" + d.ID, port: m.Port, env: []string{fmt.Sprintf("PORT=%d", m.Port)}, path: coldPath}, nil
	}
	cmd := m.Start
	if len(cmd) == 0 {
		cmd = []string{"npm", "start"}
	}
	env := append([]string{"PORT=3000", "HOSTNAME=0.0.0.0", "NODE_ENV=production",
		"HOST=0.0.0.0", "npm_config_update_notifier=false", "npm_config_cache=/tmp/.npm"}, m.Env...)
	return bareSpec{image: b.o.image, cmd: cmd, workDir: "/app", port: 3000, env: env,
		bundle: filepath.Join(dir, "server.tar.gz"), path: coldPath}, nil
}

// fmtArgv shows a command as it would be typed; nil is the image's own.
func fmtArgv(argv []string) string {
	if len(argv) == 0 {
		return "image CMD"
	}
	s := ""
	for i, a := range argv {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}

// startCounts counts how berth started deploymentID's server, from its log:
// restarts of the stopped container, new containers, and restarts that
// failed (after which berth made a new container).
func startCounts(log, deploymentID string) string {
	var restarted, started, failed int
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "deployment="+deploymentID) {
			continue
		}
		switch {
		case strings.Contains(l, `msg="restarted server"`):
			restarted++
		case strings.Contains(l, `msg="started server"`):
			started++
		case strings.Contains(l, `msg="restart spare server; starting a new one"`):
			failed++
		}
	}
	return fmt.Sprintf("%d restarts of the stopped container, %d new containers, %d failed restarts", restarted, started, failed)
}
