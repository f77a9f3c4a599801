package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	RPS      float64
	P50, P99 float64 // milliseconds
	Requests int64
}

var (
	wrkRPSRe   = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkReqRe   = regexp.MustCompile(`(\d+) requests in`)
	wrkPctRe   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkBadRe   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErrorRe = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs wrk against url with the given Host header (empty: none),
// connections and threads, for d.
func wrk(ctx context.Context, url, host string, conns, threads int, d time.Duration, headers ...string) (wrkResult, error) {
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%.0fs", d.Seconds()), "--latency", "--timeout", "5s"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPSRe.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkReqRe.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkBadRe.FindStringSubmatch(out); m != nil {
		return r, fmt.Errorf("%s non-2xx answers:\n%s", m[1], out)
	}
	if m := wrkErrorRe.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			if v != "0" {
				return r, fmt.Errorf("socket errors:\n%s", out)
			}
		}
	}
	for _, m := range wrkPctRe.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.P50 = v
		} else {
			r.P99 = v
		}
	}
	if r.P99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk output:\n%s", out)
	}
	return r, nil
}
