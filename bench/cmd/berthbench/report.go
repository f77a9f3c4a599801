package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table: a measure, its median for berth and for
// the baseline, how they compare, the target, and whether it is met.
type row struct {
	Name     string   `json:"name"`
	Berth    string   `json:"berth"`
	Baseline string   `json:"baseline"`
	Compare  string   `json:"compare"`
	Target   string   `json:"target"`
	Met      bool     `json:"met"`
	Raw      []string `json:"raw"` // per-round figures
}

type report struct {
	started, finished time.Time
	rows              []row
	notes             []string
}

func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	mark := "met"
	if !x.Met {
		mark = "MISSED"
	}
	fmt.Fprintf(os.Stderr, "== %s: berth %s, baseline %s, %s (target %s) %s\n", x.Name, x.Berth, x.Baseline, x.Compare, x.Target, mark)
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *report) allMet() bool {
	for _, x := range r.rows {
		if !x.Met {
			return false
		}
	}
	return true
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nberth benchmarks, %s, %s\n\n", r.started.Format("2006-01-02 15:04"), machine())
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tberth\tbaseline\tcompare\ttarget\tresult")
	for _, x := range r.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Berth, x.Baseline, x.Compare, x.Target, result(x.Met))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nraw figures (one per round, in run order):")
	for _, x := range r.rows {
		fmt.Fprintf(w, "  %s\n", x.Name)
		for _, l := range x.Raw {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "\nran in %s\n", r.finished.Sub(r.started).Round(time.Second))
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s, in %s.\n\n", r.started.Format("2006-01-02 15:04 MST"), machine(), r.finished.Sub(r.started).Round(time.Second))
	b.WriteString("| measure | berth | baseline | compare | target | result |\n|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.Name, x.Berth, x.Baseline, x.Compare, x.Target, result(x.Met))
	}
	b.WriteString("\nRaw figures, one per round in run order:\n\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "- %s\n", x.Name)
		for _, l := range x.Raw {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	return b.String()
}

func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(struct {
		Machine  string    `json:"machine"`
		Started  time.Time `json:"started"`
		Finished time.Time `json:"finished"`
		Rows     []row     `json:"rows"`
		Notes    []string  `json:"notes"`
	}{machine(), r.started, r.finished, r.rows, r.notes}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func result(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// machine describes this host: CPU model and count, memory, kernel.
func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GB RAM", float64(kb)/(1<<20))
	}
	kernel := ""
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(data))
	}
	return fmt.Sprintf("%d × %s%s%s", runtime.NumCPU(), cpu, mem, kernel)
}

// median of xs (xs is not changed).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile of xs, nearest rank (xs is not changed).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func ms(d time.Duration) string { return fmtMs(float64(d) / float64(time.Millisecond)) }

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f µs", v*1000)
}

func ratio(v float64) string { return fmt.Sprintf("%.2f×", v) }
