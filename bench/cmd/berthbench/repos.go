package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/internal/testapp"
)

// commitRepo makes dir a git repository with everything committed on main.
func commitRepo(dir string) error {
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return err
	}
	_, err = wt.Commit("berthbench", &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	return err
}

// textAsset returns size bytes of JavaScript-like text, compressible about
// as much as real bundles are (a fixed seed: the same bytes every run).
func textAsset(size int, seed uint64) []byte {
	words := strings.Fields(`const let function return export import default from async await if else for while
		new this props state render component useEffect useState document window querySelector addEventListener
		length push map filter reduce Object keys values assign JSON stringify parse Promise resolve then catch
		null undefined true false typeof instanceof class extends super constructor static get set value key`)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b strings.Builder
	b.Grow(size + 128)
	for b.Len() < size {
		fmt.Fprintf(&b, "%s %s_%d = %s(%d, \"%s\");\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			rng.IntN(10000), words[rng.IntN(len(words))], rng.IntN(1<<20), words[rng.IntN(len(words))])
	}
	return []byte(b.String()[:size])
}

// staticSite is a plain site: index.html and two assets of the sizes the
// static benchmark asks for.
func staticSite(dir string) error {
	return testapp.WriteFiles(dir, map[string][]byte{
		"index.html":             []byte("<!doctype html><title>bench</title><script src=\"/assets/app-10k.js\"></script>\n"),
		"assets/app-10k.js":      textAsset(10<<10, 1),
		"assets/vendor-200k.js":  textAsset(200<<10, 2),
		"assets/styles-2k.css":   textAsset(2<<10, 3),
		"assets/logo-binary.bin": textAsset(1<<10, 4),
	})
}

// nextApp writes the Next.js app berth's end-to-end test deploys into dir,
// from the fixtures.
func nextApp(dir, fixtures string) error {
	files, err := testapp.NextApp(fixtures, nil)
	if err != nil {
		return err
	}
	return testapp.WriteFiles(dir, files)
}
