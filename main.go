// Command berth is a self-hosted deploy platform in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return // -h printed the usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		usage()
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "worker":
		return workerCommand(args[1:])
	case "backup":
		return backupCommand(args[1:], os.Getenv, os.Stdout)
	case "restore":
		return restoreCommand(args[1:], os.Getenv, os.Stdout)
	case "version", "--version", "-v":
		fmt.Println("berth", version)
		return nil
	case "help", "-h", "--help":
		usage()
		return nil
	}
	usage()
	return fmt.Errorf("unknown command %q", args[0])
}

func usage() {
	fmt.Fprint(os.Stderr, `berth: push a commit, get a preview URL.

Usage:
  berth serve [flags]   run the server (berth serve -h lists flags and BERTH_* variables)
  berth worker [flags]  build jobs of a berth serve elsewhere (berth worker -h lists flags)
  berth backup TARGET   write a backup of the data directory to a file or s3://bucket/key
  berth restore BACKUP  fill an empty data directory from a backup
  berth version         print the version
`)
}

func serve(args []string) error {
	cfg, err := LoadConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(cfg, log)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	if link := m.SetupURL(); link != "" {
		// The link is the one way in until there is an administrator: it
		// is printed here only, works once and for an hour.
		log.Info("berth has no administrator yet: open this link to become it (it works once, for an hour)", slog.String("setup_url", link))
	}
	running := []any{slog.String("addr", m.Addr()), slog.String("url", m.PublicURL()), slog.String("version", version)}
	if a := m.HTTPSAddr(); a != "" {
		running = append(running, slog.String("https_addr", a))
	}
	log.Info("berth is running", running...)
	<-ctx.Done()
	stop()
	log.Info("shutting down")
	return m.Close()
}

// newLogger is the text logger on stderr at level (debug, info, warn or
// error) that the commands log with.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
