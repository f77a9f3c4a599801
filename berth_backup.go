package main

import (
	"log/slog"

	"github.com/berth-dev/berth/backup"
)

// startBackups takes scheduled backups in the background until Close.
func (m *Main) startBackups() {
	cfg := m.cfg
	s := backup.Schedule{
		Target: cfg.BackupTarget, Interval: cfg.BackupInterval, Keep: cfg.BackupKeep, S3: s3Of(cfg),
		Source: backup.Source{DataDir: cfg.DataDir, BerthVersion: version, Artifacts: cfg.BackupArtifacts},
		Log:    m.log,
	}
	m.log.Info("scheduled backups on", slog.String("target", cfg.BackupTarget),
		slog.Duration("interval", cfg.BackupInterval), slog.Int("keep", cfg.BackupKeep))
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		s.Run(m.bgCtx)
	}()
}
