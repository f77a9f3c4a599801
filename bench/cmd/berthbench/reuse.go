package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// reuse compares a deployment that reuses a ready build with that build:
// each round makes a new project of the SvelteKit (adapter-node) app and
// deploys it (API call to ready, empty build cache), then commits nothing
// new on its branch (a new commit with the same tree, as a fast-forward
// merge of a previewed branch brings) and deploys again: API call to the
// reusing deployment's ready. It leaves the first build behind for the
// servers section.
func (b *bench) reuse(ctx context.Context) error {
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	var first, again []float64
	var raw []string
	for i := range b.o.buildRounds {
		dir := mkdir(b.o.work, "sveltekit")
		if err := svelteKitApp(dir); err != nil {
			return err
		}
		if _, err := commitAll(dir, true); err != nil {
			return err
		}
		pr, fd, ft, err := b.main.deployRepo(ctx, fmt.Sprintf("sveltekit reuse %d", i+1), dir, nil, buildTimeout)
		if err != nil {
			return err
		}
		if fd.OutputType != "node-server" {
			return fmt.Errorf("deployment %s: output %q, want node-server", fd.ID, fd.OutputType)
		}
		if err := settled(ctx, dc, fd.ID); err != nil {
			return err
		}
		if _, err := emptyCommit(dir); err != nil {
			return err
		}
		started := time.Now()
		d, err := b.main.deploy(ctx, pr.ID)
		if err != nil {
			return err
		}
		if d, err = b.main.waitDone(ctx, d.ID, buildTimeout); err != nil {
			return err
		}
		rt := time.Since(started)
		// Read it again: the answer of the deploy call predates the reuse.
		if err := b.main.api(ctx, "GET", "/v1/deployments/"+d.ID, nil, &d); err != nil {
			return err
		}
		if d.ReusedFrom != fd.ID {
			return fmt.Errorf("deployment %s of the same tree did not reuse %s (reused_from %q):\n%s", d.ID, fd.ID, d.ReusedFrom, b.main.buildLog(ctx, d.ID))
		}
		if b.svelteDep == nil {
			b.svelteDep = &fd
		}
		first, again = append(first, ft.Seconds()), append(again, rt.Seconds())
		raw = append(raw, fmt.Sprintf("round %d: reused %.2f s (%s); first build %.1f s (%s)", i+1, rt.Seconds(), b.reuseTimeline(ctx, d.ID, started),
			ft.Seconds(), b.phases(ctx, fd.ID)))
		b.log.Info("reuse round", slog.Int("round", i+1), slog.Duration("first", ft), slog.Duration("reused", rt))
	}
	re := median(again) / median(first)
	b.r.add(row{Name: "deploy of a new commit with the same tree (reused build, SvelteKit)", Berth: fmt.Sprintf("%.2f s", median(again)),
		Baseline: fmt.Sprintf("first build %.1f s", median(first)), Compare: ratio(re), Target: "≤ 0.2× and ≤ 5 s",
		Met: re <= 0.2 && median(again) <= 5, Raw: raw})
	return nil
}

// reuseTimeline shows where a reusing deployment's time went: each of its
// log lines with its time since the API call.
func (b *bench) reuseTimeline(ctx context.Context, id string, started time.Time) string {
	lines, _, err := b.main.timeline(ctx, id)
	if err != nil {
		return "no timeline: " + err.Error()
	}
	var out []string
	for _, l := range lines {
		text := l.Text
		if len(text) > 60 {
			text = text[:60] + "…"
		}
		out = append(out, fmt.Sprintf("%.2f s %q", l.At.Sub(started).Seconds(), text))
	}
	return strings.Join(out, ", ")
}
