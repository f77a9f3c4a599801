// Package migrations holds berth's SQLite schema as numbered SQL files.
//
// Files are named NNNN_name.sql and applied in lexical order by the store at
// open; each applied file is recorded so it runs once.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
