// Package embedui holds the dashboard's HTML templates and static assets
// (CSS, JavaScript, icons), embedded in the binary so that `go build` needs
// no Node and the dashboard works offline. The server package parses the
// templates and serves the assets.
package embedui

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html static/*
var files embed.FS

// Templates returns the page templates: layout.html defines the frame, each
// other file one page.
func Templates() fs.FS { return sub("templates") }

// Static returns the assets served under /static/.
func Static() fs.FS { return sub("static") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded above; it cannot be missing
	}
	return f
}
