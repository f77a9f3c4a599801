package backup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/artifacts"
)

// Scheduled backups are named after their time, so names sort by age.
const (
	namePrefix = "berth-backup-"
	nameSuffix = ".tar.gz"
	timeLayout = "20060102T150405Z"
)

// Schedule takes a backup every Interval into Target (a directory, or
// s3://bucket/prefix) and keeps the newest Keep there.
type Schedule struct {
	Target   string
	Interval time.Duration
	Keep     int
	S3       S3Config
	Source   Source
	Log      *slog.Logger
}

// Run takes backups until ctx ends. A failed backup is logged and the
// next one taken at the next tick.
func (s Schedule) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			start := time.Now()
			where, err := s.Once(ctx, now)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("scheduled backup failed", slog.Any("error", err))
				}
				continue
			}
			s.Log.Info("backup written", slog.String("to", where), slog.Duration("took", time.Since(start)))
		}
	}
}

// Once takes one backup named after now and removes the oldest beyond
// Keep. It returns where the backup went.
func (s Schedule) Once(ctx context.Context, now time.Time) (string, error) {
	name := namePrefix + now.UTC().Format(timeLayout) + nameSuffix
	bucketName, prefix, isS3, err := parseS3(s.Target)
	if err != nil {
		return "", err
	}
	if !isS3 {
		if err := os.MkdirAll(s.Target, 0o700); err != nil {
			return "", fmt.Errorf("create backup dir: %w", err)
		}
		where := filepath.Join(s.Target, name)
		if _, err := Write(ctx, where, s.S3, s.Source); err != nil {
			return "", err
		}
		return where, s.pruneDir()
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	where := "s3://" + bucketName + "/" + prefix + name
	if _, err := Write(ctx, where, s.S3, s.Source); err != nil {
		return "", err
	}
	b, err := s.S3.bucket(ctx, bucketName)
	if err != nil {
		return where, err
	}
	return where, s.pruneBucket(ctx, b, prefix)
}

func isBackupName(name string) bool {
	return strings.HasPrefix(name, namePrefix) && strings.HasSuffix(name, nameSuffix) && !strings.Contains(name, "/")
}

// pruneDir removes the oldest backups in the target directory beyond Keep.
func (s Schedule) pruneDir() error {
	entries, err := os.ReadDir(s.Target)
	if err != nil {
		return fmt.Errorf("list backups: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && isBackupName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	for _, name := range s.beyondKeep(names) {
		if err := os.Remove(filepath.Join(s.Target, name)); err != nil {
			return fmt.Errorf("remove old backup: %w", err)
		}
	}
	return nil
}

// pruneBucket removes the oldest backups under prefix beyond Keep.
func (s Schedule) pruneBucket(ctx context.Context, b artifacts.Bucket, prefix string) error {
	var names []string
	err := b.List(ctx, prefix+namePrefix, func(o artifacts.Object) error {
		if name := strings.TrimPrefix(o.Key, prefix); isBackupName(name) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list backups: %w", err)
	}
	for _, name := range s.beyondKeep(names) {
		// The name ends in .tar.gz, so as a prefix it matches only itself.
		if err := b.DeletePrefix(ctx, prefix+name); err != nil {
			return fmt.Errorf("remove old backup: %w", err)
		}
	}
	return nil
}

// beyondKeep returns the names to remove: all but the newest Keep.
func (s Schedule) beyondKeep(names []string) []string {
	if s.Keep < 1 || len(names) <= s.Keep {
		return nil
	}
	slices.Sort(names)
	return names[:len(names)-s.Keep]
}
