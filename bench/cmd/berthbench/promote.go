package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// promote measures a promotion from the API call to the first request the
// new deployment answers on the production host: for a static site
// (between two builds of it), and for a Next.js deployment whose server was
// stopped for idleness, against bare `node server.js` started in a
// container that already holds its bundle.
func (b *bench) promote(ctx context.Context) error {
	if err := b.promoteStatic(ctx); err != nil {
		return err
	}
	return b.promoteServer(ctx)
}

func (b *bench) promoteStatic(ctx context.Context) error {
	dir := mkdir(b.o.work, "promote-site")
	var shas []string
	for i, mark := range []string{"mark:one", "mark:two"} {
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><p>"+mark+"</p>\n"), 0o644); err != nil {
			return err
		}
		sha, err := commitAll(dir, i == 0)
		if err != nil {
			return err
		}
		shas = append(shas, sha)
	}
	pr, err := b.main.createProject(ctx, "promote site", dir, nil)
	if err != nil {
		return err
	}
	var ids []string
	for _, sha := range shas {
		var d deployment
		if err := b.main.api(ctx, http.MethodPost, "/v1/projects/"+pr.ID+"/deployments", map[string]string{"ref": sha}, &d); err != nil {
			return err
		}
		if d, err = b.main.waitDone(ctx, d.ID, buildTimeout); err != nil {
			return err
		}
		ids = append(ids, d.ID)
	}
	host := pr.Slug + ".localhost"
	marks := map[string]string{ids[0]: "mark:one", ids[1]: "mark:two"}
	client := &http.Client{Timeout: 10 * time.Second}
	var total, call []float64
	var raw []string
	for i := range 4 * b.o.rounds {
		id := ids[i%2]
		started := time.Now()
		if err := b.main.api(ctx, http.MethodPost, "/v1/deployments/"+id+"/promote", nil, nil); err != nil {
			return err
		}
		returned := time.Since(started)
		if err := untilServed(ctx, client, b.main.url("/"), host, marks[id]); err != nil {
			return err
		}
		served := time.Since(started)
		total, call = append(total, float64(served)/1e6), append(call, float64(returned)/1e6)
		raw = append(raw, fmt.Sprintf("round %d: API call %s, first request served by the new deployment %s", i+1, ms(returned), ms(served)))
	}
	p50 := median(total)
	b.r.add(row{Name: "promote a static site: API call to the first request served by the new deployment",
		Berth: "p50 " + fmtMs(p50) + " (API call " + fmtMs(median(call)) + ")", Baseline: "—", Compare: fmtMs(p50),
		Target: "p50 ≤ 50 ms", Met: p50 <= 50, Raw: raw})
	return nil
}

// promoteServer alternates production between two builds of the Next.js
// app, each time promoting the one whose server berth has stopped for
// idleness: the promotion starts it and waits for its health path.
func (b *bench) promoteServer(ctx context.Context) error {
	if err := b.ensureNextDeployment(ctx); err != nil {
		return err
	}
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	// Idle servers are stopped after 1 s (the reaper looks every 15 s).
	b.main.stop()
	p, err := startBerth(ctx, b.o, b.main.dataDir, "BERTH_SERVER_IDLE_TIMEOUT=1s")
	if err != nil {
		return err
	}
	b.main = p
	var cur struct {
		ProjectID string `json:"project_id"`
	}
	if err := p.api(ctx, http.MethodGet, "/v1/deployments/"+b.nextDep.ID, nil, &cur); err != nil {
		return err
	}
	var pr project
	if err := p.api(ctx, http.MethodGet, "/v1/projects/"+cur.ProjectID, nil, &pr); err != nil {
		return err
	}
	second, err := p.redeploy(ctx, b.nextDep.ID)
	if err != nil {
		return err
	}
	if second, err = p.waitDone(ctx, second.ID, buildTimeout); err != nil {
		return err
	}
	ids := []string{second.ID, b.nextDep.ID}
	host := pr.Slug + ".localhost"
	var berth, bare []float64
	var raw []string
	for i := range b.o.rounds + 2 {
		id := ids[i%2]
		var bt, nt time.Duration
		viaBerth := func() error {
			if err := waitIdle(ctx, dc, id); err != nil {
				return err
			}
			started := time.Now()
			if err := p.api(ctx, http.MethodPost, "/v1/deployments/"+id+"/promote", nil, nil); err != nil {
				return err
			}
			if _, err := firstByte(ctx, p.url(ssrPath), host); err != nil {
				return err
			}
			bt = time.Since(started)
			return nil
		}
		bundle := filepath.Join(p.dataDir, "artifacts", "deployments", id, "server.tar.gz")
		viaBare := func() (err error) { nt, err = bareStart(ctx, dc, b.o.image, bundle); return }
		if err := alternate(i, viaBerth, viaBare); err != nil {
			return err
		}
		if i < 2 {
			// Its server never ran in this berth: a container is created,
			// not restarted from a stopped one.
			raw = append(raw, fmt.Sprintf("first promotion of %.8s (no stopped container yet): %s; bare node server.js %s", id, ms(bt), ms(nt)))
			continue
		}
		berth, bare = append(berth, float64(bt)/1e6), append(bare, float64(nt)/1e6)
		raw = append(raw, fmt.Sprintf("round %d: berth %s; bare node server.js %s", i-1, ms(bt), ms(nt)))
	}
	added := median(berth) - median(bare)
	b.r.add(row{Name: "promote an idle Next.js deployment: API call to the first byte on the production host",
		Berth: "p50 " + fmtMs(median(berth)), Baseline: "bare node server.js " + fmtMs(median(bare)),
		Compare: fmt.Sprintf("%+.0f ms", added), Target: "≤ bare + 300 ms", Met: added <= 300, Raw: raw})
	return nil
}

// untilServed requests url on host until the answer contains want.
func untilServed(ctx context.Context, client *http.Client, url, host, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = host
		res, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s on %s did not serve %q within 30 s", url, host, want)
}

// commitAll commits everything in dir (initialising a repository on main
// when init is set) and returns the commit id.
func commitAll(dir string, init bool) (string, error) {
	var repo *git.Repository
	var err error
	if init {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	} else {
		repo, err = git.PlainOpen(dir)
	}
	if err != nil {
		return "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return "", err
	}
	h, err := wt.Commit("berthbench", &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	return h.String(), err
}
