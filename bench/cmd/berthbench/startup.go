package main

import (
	"context"
	"fmt"
	"time"
)

// startup measures `berth serve` start-up to ready (/readyz answers 200:
// SQLite, NATS, artifact store and Docker all up) on a new data directory
// and on a restart of the same one, and the resident memory of the idle
// process a few seconds after start.
func (b *bench) startup(ctx context.Context) error {
	var fresh, again, rss []float64
	var raw, rawRSS []string
	for i := range b.o.rounds {
		dir := mkdir(b.o.work, "startup")
		p, err := startBerth(ctx, b.o, dir)
		if err != nil {
			return err
		}
		fresh = append(fresh, float64(p.ready)/1e6)
		p.stop()
		p, err = startBerth(ctx, b.o, dir)
		if err != nil {
			return err
		}
		again = append(again, float64(p.ready)/1e6)
		time.Sleep(3 * time.Second) // idle: no request but the readiness probe
		n, err := p.rssBytes()
		p.stop()
		if err != nil {
			return err
		}
		rss = append(rss, float64(n)/(1<<20))
		raw = append(raw, fmt.Sprintf("round %d: %s (new data dir), %s (restart)", i+1, fmtMs(fresh[i]), fmtMs(again[i])))
		rawRSS = append(rawRSS, fmt.Sprintf("round %d: %.1f MB", i+1, rss[i]))
	}
	worst := max(median(fresh), median(again))
	b.r.add(row{Name: "idle berth serve: start-up to ready", Berth: fmt.Sprintf("%s new, %s restart", fmtMs(median(fresh)), fmtMs(median(again))),
		Baseline: "—", Compare: fmtMs(worst), Target: "≤ 500 ms", Met: worst <= 500, Raw: raw})
	b.r.add(row{Name: "idle berth serve: resident memory", Berth: fmt.Sprintf("%.1f MB", median(rss)), Baseline: "—",
		Compare: fmt.Sprintf("%.1f MB", median(rss)), Target: "≤ 80 MB", Met: median(rss) <= 80, Raw: rawRSS})
	return nil
}
