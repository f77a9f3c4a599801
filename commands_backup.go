package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/backup"
)

// toolOptions are the settings of berth serve that berth backup and berth
// restore read too (same flags, same BERTH_* variables).
var toolOptions = []string{"data-dir", "s3-endpoint", "s3-access-key", "s3-secret-key", "s3-secure"}

// loadToolConfig parses the flags of a command beside serve: the shared
// options above, plus the command's own from extra. It returns the
// remaining arguments.
func loadToolConfig(name, synopsis string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	var opts []option
	for _, o := range options(&c) {
		if slices.Contains(toolOptions, o.flag) {
			opts = append(opts, o)
		}
	}
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	errs := bindOptions(fs, opts, getenv)
	extra(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: berth %s\n\nEach of the first flags can also be set by its BERTH_* variable, as for berth serve.\n\n", synopsis)
		for _, o := range opts {
			fmt.Fprintf(w, "  -%s, %s (default: %s)\n    \t%s\n", o.flag, o.env, strings.ReplaceAll(o.shownDefault(), "`", ""), o.help)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.ContainsFunc(opts, func(o option) bool { return o.flag == f.Name }) {
				fmt.Fprintf(w, "  -%s\n    \t%s\n", f.Name, f.Usage)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	if c.S3Endpoint != "" && (c.S3AccessKey == "" || c.S3SecretKey == "") {
		errs = append(errs, errors.New("BERTH_S3_ENDPOINT needs BERTH_S3_ACCESS_KEY and BERTH_S3_SECRET_KEY"))
	}
	return c, fs.Args(), errors.Join(errs...)
}

func s3Of(c Config) backup.S3Config {
	return backup.S3Config{Endpoint: c.S3Endpoint, AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, Secure: c.S3Secure}
}

// backupCommand is berth backup FILE|s3://bucket/key.
func backupCommand(args []string, getenv func(string) string, out io.Writer) error {
	var withArtifacts bool
	cfg, rest, err := loadToolConfig("backup", "backup [flags] FILE|s3://bucket/key", args, getenv, func(fs *flag.FlagSet) {
		fs.BoolVar(&withArtifacts, "include-artifacts", false, "add the local artifact directory (for an instance without S3)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("berth backup takes one target: a file or s3://bucket/key (berth backup -h)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := backup.Write(ctx, rest[0], s3Of(cfg), backup.Source{DataDir: cfg.DataDir, BerthVersion: version, Artifacts: withArtifacts})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(out, "Backed up %s to %s: %d files, schema %s.\n", cfg.DataDir, rest[0], len(m.Files), m.Schema)
	return nil
}

// restoreCommand is berth restore FILE|s3://bucket/key.
func restoreCommand(args []string, getenv func(string) string, out io.Writer) error {
	cfg, rest, err := loadToolConfig("restore", "restore [flags] FILE|s3://bucket/key", args, getenv, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("berth restore takes one backup: a file or s3://bucket/key (berth restore -h)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := backup.Open(ctx, rest[0], s3Of(cfg))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer r.Close()
	m, err := backup.Restore(ctx, r, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(out, "Restored %s from the backup of %s (berth %s, schema %s).\n", cfg.DataDir,
		m.CreatedAt.Format("2006-01-02 15:04:05 UTC"), m.BerthVersion, m.Schema)
	if !m.Artifacts {
		fmt.Fprintln(out, "Start berth serve with the same S3 settings (or the kept artifact directory) to serve the deployments again.")
	}
	return nil
}
