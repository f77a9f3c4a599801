// Command berthbench measures berth against its baselines on this machine
// and prints one table of ratios, medians of alternating rounds, plus the
// raw figures. It exits 1 when a target is missed. bench/run builds and
// starts it; bench/README.md says what each row means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	berth       string        // the berth binary
	image       string        // build and runtime image
	caFile      string        // BERTH_EXTRA_CA_FILE
	fixtures    string        // scripts/fixtures.sh output
	work        string        // scratch directory
	rounds      int           // rounds of the start-up, cold start and log benchmarks
	pairs       int           // back-to-back berth/baseline wrk pairs per throughput measure
	buildRounds int           // rounds of the build benchmarks (minutes each)
	duration    time.Duration // one wrk run
	only        []string      // sections to run (empty: all)
	jsonOut     string        // where to write the results as JSON
	mdOut       string        // where to write the table as Markdown

	// S3 (MinIO) the workers section's serve and workers share.
	s3Endpoint, s3AccessKey, s3SecretKey string
}

func main() {
	if len(os.Args) >= 4 && os.Args[1] == bareFlag {
		if err := serveBare(os.Args[2], os.Args[3], os.Args[4:]...); err != nil {
			fmt.Fprintln(os.Stderr, "berthbench:", err)
			os.Exit(2)
		}
		return
	}
	var o options
	var only string
	flag.StringVar(&o.berth, "berth", "", "berth binary (required)")
	flag.StringVar(&o.image, "image", os.Getenv("BERTH_BUILD_IMAGE"), "build and runtime image")
	flag.StringVar(&o.caFile, "ca-file", os.Getenv("BERTH_EXTRA_CA_FILE"), "CA bundle copied into containers")
	flag.StringVar(&o.fixtures, "fixtures", os.Getenv("BERTH_TEST_FIXTURES"), "unpacked npm fixtures (scripts/fixtures.sh)")
	flag.StringVar(&o.work, "work", "", "scratch directory (default: a new temporary one, removed at the end)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of the start-up, cold start and log benchmarks")
	flag.IntVar(&o.pairs, "pairs", 8, "back-to-back berth/baseline wrk pairs per throughput measure")
	flag.IntVar(&o.buildRounds, "build-rounds", 3, "rounds of the build benchmarks")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one wrk run")
	flag.StringVar(&only, "only", "", "comma-separated sections: startup,static,https,sse,build,ssr,cold,reuse,servers,promote,workers (default all)")
	flag.StringVar(&o.s3Endpoint, "s3-endpoint", os.Getenv("BERTH_TEST_S3_ENDPOINT"), "MinIO host:port for the workers section")
	flag.StringVar(&o.s3AccessKey, "s3-access-key", os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), "MinIO access key")
	flag.StringVar(&o.s3SecretKey, "s3-secret-key", os.Getenv("BERTH_TEST_S3_SECRET_KEY"), "MinIO secret key")
	flag.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	flag.StringVar(&o.mdOut, "markdown", "", "write the table as Markdown to this file")
	flag.Parse()
	if only != "" {
		o.only = strings.Split(only, ",")
	}
	if o.berth == "" || o.image == "" || o.fixtures == "" {
		fmt.Fprintln(os.Stderr, "berthbench: -berth, -image (BERTH_BUILD_IMAGE) and -fixtures (BERTH_TEST_FIXTURES) are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berthbench:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func (o options) want(section string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, section)
}

// run runs the sections in an order that lets later ones reuse what earlier
// ones deployed, and reports whether every target was met.
func run(ctx context.Context, o options) (bool, error) {
	if o.work == "" {
		dir, err := os.MkdirTemp("", "berthbench-")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	var err error
	if o.work, err = filepath.Abs(o.work); err != nil {
		return false, err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r := &report{started: time.Now()}
	b := &bench{o: o, log: log, r: r}
	defer b.cleanup()

	if o.want("startup") {
		if err := b.startup(ctx); err != nil {
			return false, fmt.Errorf("startup: %w", err)
		}
	}
	// The sections that run on the long-running instance; startup and
	// workers start berths of their own.
	if slices.ContainsFunc([]string{"static", "https", "sse", "build", "ssr", "cold", "reuse", "servers", "promote"}, o.want) {
		if err := b.startMain(ctx); err != nil {
			return false, err
		}
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"static", b.static},
		{"https", b.https},
		{"sse", b.sse},
		{"build", b.builds},
		{"ssr", b.ssr},
		{"cold", b.cold},
		{"reuse", b.reuse},
		{"servers", b.servers},
		{"promote", b.promote},
		{"workers", b.workers},
	}
	for _, s := range steps {
		if !o.want(s.name) {
			continue
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		log.Info("section", slog.String("name", s.name))
		if err := s.fn(ctx); err != nil {
			return false, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	r.finished = time.Now()
	r.print(os.Stdout)
	if o.mdOut != "" {
		if err := os.WriteFile(o.mdOut, []byte(r.markdown()), 0o644); err != nil {
			return false, err
		}
	}
	if o.jsonOut != "" {
		if err := r.writeJSON(o.jsonOut); err != nil {
			return false, err
		}
	}
	if len(r.rows) == 0 {
		return false, errors.New("no benchmark ran")
	}
	return r.allMet(), nil
}
