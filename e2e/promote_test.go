package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// markRe finds which build answered: every page of the apps below says
// "mark:<its build>".
var markRe = regexp.MustCompile(`mark:([a-z0-9-]+)`)

// sample is one request of the load loop.
type sample struct {
	start, end time.Time
	status     int
	mark       string
	err        error
}

// loadLoop requests a host's paths from a few goroutines, back to back,
// and records every answer, until finish.
type loadLoop struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(b *berthProc, host string, paths []string, workers int) *loadLoop {
	l := &loadLoop{stop: make(chan struct{})}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				s := sample{start: time.Now()}
				req, _ := http.NewRequest(http.MethodGet, b.url(paths[(w+i)%len(paths)]), nil)
				req.Host = host
				res, err := client.Do(req)
				if err == nil {
					body, rerr := io.ReadAll(res.Body)
					res.Body.Close()
					s.status, err = res.StatusCode, rerr
					if m := markRe.FindSubmatch(body); m != nil {
						s.mark = string(m[1])
					}
				}
				s.err, s.end = err, time.Now()
				l.mu.Lock()
				l.samples = append(l.samples, s)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// startedSince counts the answered requests that started after t.
func (l *loadLoop) startedSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.samples {
		if s.start.After(t) {
			n++
		}
	}
	return n
}

func (l *loadLoop) finish() []sample {
	close(l.stop)
	l.wg.Wait()
	return l.samples
}

// switchAt is one promotion or rollback: when its API call began and
// returned, and which build production serves after it.
type switchAt struct {
	called, returned time.Time
	mark             string
}

// checkLoad asserts that every request of the loop got a 2xx from one of
// the builds, and that every request that began after a switch returned
// (and ended before the next began) was served by that switch's build.
func checkLoad(t *testing.T, samples []sample, switches []switchAt, first string) {
	t.Helper()
	bad, wrong, checked := 0, 0, 0
	for _, s := range samples {
		if s.err != nil || s.status < 200 || s.status > 299 || s.mark == "" {
			if bad++; bad <= 5 {
				t.Errorf("request at %s: status %d, mark %q, error %v", s.start.Format("15:04:05.000"), s.status, s.mark, s.err)
			}
			continue
		}
		// k is the last switch called before the request began (-1: none).
		k := -1
		for i, sw := range switches {
			if s.start.After(sw.called) {
				k = i
			}
		}
		want := first
		if k >= 0 {
			want = switches[k].mark
			if !s.start.After(switches[k].returned) {
				continue // began while the switch was under way: either build
			}
		}
		if k+1 < len(switches) && s.end.After(switches[k+1].called) {
			continue // still under way when the next switch began
		}
		checked++
		if s.mark != want {
			if wrong++; wrong <= 5 {
				t.Errorf("request at %s served by %s, want %s", s.start.Format("15:04:05.000"), s.mark, want)
			}
		}
	}
	t.Logf("%d requests, %d checked against the switch before them: %d failed, %d served by the wrong build", len(samples), checked, bad, wrong)
}

// TestPromoteUnderLoad promotes and rolls back a static site and a
// Next.js app while a load loop requests their production hosts: no
// request fails, and every request that starts after the API call returned
// is served by the deployment it put in production. A server deployment is
// started and answering before the API returns: 20 concurrent first
// requests start no server.
func TestPromoteUnderLoad(t *testing.T) {
	requireEnv(t)
	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))

	t.Run("static", func(t *testing.T) {
		dir := t.TempDir()
		var shas []string
		for _, mark := range []string{"static-one", "static-two"} {
			for name, content := range map[string]string{
				"index.html": "<!doctype html><title>site</title><p>mark:" + mark + "</p>",
				"which.txt":  "mark:" + mark + "\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			shas = append(shas, commitAll(t, dir, "Build "+mark, len(shas) == 0))
		}
		runRounds(t, b, "static site", dir, shas, []string{"static-one", "static-two"}, []string{"/", "/which.txt"}, false)
	})

	t.Run("next", func(t *testing.T) {
		repo := makeNextRepo(t)
		var shas []string
		for _, mark := range []string{"next-one", "next-two"} {
			route := `export const dynamic = "force-dynamic";

export function GET() {
  return new Response("mark:` + mark + `\n", { headers: { "Content-Type": "text/plain" } });
}
`
			if err := os.MkdirAll(filepath.Join(repo, "app", "which"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(repo, "app", "which", "route.ts"), []byte(route), 0o644); err != nil {
				t.Fatal(err)
			}
			shas = append(shas, commitAll(t, repo, "Build "+mark, false))
		}
		runRounds(t, b, "next app", repo, shas, []string{"next-one", "next-two"}, []string{"/which"}, true)
	})
}

// runRounds makes a project of repo, builds its two commits (neither is
// promoted by itself: they are deployed by commit id), then promotes and
// rolls back between them under load.
func runRounds(t *testing.T, b *berthProc, name, repo string, shas, marks, paths []string, server bool) {
	var p struct{ ID, Slug string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": name, "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	ids := make([]string, len(shas))
	for i, sha := range shas {
		var d deployment
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", map[string]string{"ref": sha}, &d); code != http.StatusAccepted {
			t.Fatalf("deploy %s: %d", sha, code)
		}
		ids[i] = d.ID
	}
	for _, id := range ids {
		if d := b.waitState(id, 15*time.Minute, terminal); d.State != "ready" {
			t.Fatalf("deployment %s: %+v\nlog:\n%s", id, d, plainLog(t, b, id))
		}
	}
	host := p.Slug + ".localhost"
	markOf := map[string]string{ids[0]: marks[0], ids[1]: marks[1]}

	// The first promotion: nothing served before it.
	promote := func(id string) switchAt {
		t.Helper()
		sw := switchAt{called: time.Now(), mark: markOf[id]}
		var out struct {
			ProductionDeploymentID string `json:"production_deployment_id"`
		}
		if code := b.api(http.MethodPost, "/v1/deployments/"+id+"/promote", nil, &out); code != http.StatusOK || out.ProductionDeploymentID != id {
			t.Fatalf("promote %s: %d, production %s", id, code, out.ProductionDeploymentID)
		}
		sw.returned = time.Now()
		return sw
	}
	rollback := func(to string) switchAt {
		t.Helper()
		sw := switchAt{called: time.Now(), mark: markOf[to]}
		var body any
		if to != "" {
			body = map[string]string{"deployment_id": to}
		}
		var out struct {
			ProductionDeploymentID string `json:"production_deployment_id"`
		}
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/rollback", body, &out); code != http.StatusOK {
			t.Fatalf("rollback: %d", code)
		}
		sw.mark = markOf[out.ProductionDeploymentID]
		sw.returned = time.Now()
		return sw
	}
	first := promote(ids[0])
	if server {
		checkWarmFirstRequests(t, b, host, paths[0], ids[0], marks[0])
	}

	load := startLoad(b, host, paths, 4)
	var switches []switchAt
	// Enough requests after each switch that the check below is not
	// vacuous; the deadline only ends a broken run.
	settle := func(sw switchAt) {
		t.Helper()
		// The very first request after the API returned.
		res, body := b.getHost(host, paths[0])
		if m := markRe.FindSubmatch(body); res.StatusCode != http.StatusOK || m == nil || string(m[1]) != sw.mark {
			t.Errorf("first request after the switch to %s: %d %.200s", sw.mark, res.StatusCode, body)
		}
		for deadline := time.Now().Add(2 * time.Minute); load.startedSince(sw.returned) < 40; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the load loop made fewer than 40 requests in 2 minutes after the switch to %s", sw.mark)
			}
		}
	}
	for _, step := range []func() switchAt{
		func() switchAt { return promote(ids[1]) },
		func() switchAt { return rollback("") }, // to the previous production deployment
		func() switchAt { return promote(ids[1]) },
		func() switchAt { return rollback(ids[0]) }, // to a named one
		func() switchAt { return promote(ids[1]) },
		func() switchAt { return rollback("") },
	} {
		sw := step()
		switches = append(switches, sw)
		settle(sw)
	}
	samples := load.finish()
	checkLoad(t, samples, switches, first.mark)

	var hist []struct {
		DeploymentID string `json:"deployment_id"`
		PromotedBy   string `json:"promoted_by"`
	}
	if code := b.api(http.MethodGet, "/v1/projects/"+p.ID+"/production", nil, &hist); code != http.StatusOK || len(hist) != 1+len(switches) {
		t.Errorf("production history: %d, %d entries, want %d", code, len(hist), 1+len(switches))
	} else if hist[0].DeploymentID != ids[0] || hist[0].PromotedBy != "rollback" {
		t.Errorf("newest history entry %+v, want %s by rollback", hist[0], ids[0])
	}
}

// checkWarmFirstRequests: right after the promotion of a server deployment
// returned, its server is already running: 20 concurrent first requests
// are all answered by it, and none starts a server.
func checkWarmFirstRequests(t *testing.T, b *berthProc, host, path, id, mark string) {
	t.Helper()
	starts := func() int {
		n := 0
		for _, line := range strings.Split(b.logText(), "\n") {
			if strings.Contains(line, "server\" deployment="+id) && (strings.Contains(line, `msg="started server"`) || strings.Contains(line, `msg="restarted server"`)) {
				n++
			}
		}
		return n
	}
	before := starts()
	containers := serverContainers(t, id)
	if before != 1 || len(containers) != 1 {
		t.Fatalf("after the promotion returned: %d server starts logged, containers %v; want the server started once, by the promotion", before, containers)
	}
	var wg sync.WaitGroup
	results := make([]string, 20)
	client := &http.Client{Timeout: 60 * time.Second}
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
			req.Host = host
			res, err := client.Do(req)
			if err != nil {
				results[i] = err.Error()
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			results[i] = fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(body)))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r != "200 mark:"+mark {
			t.Errorf("first request %d: %s", i, r)
		}
	}
	if after := starts(); after != before {
		t.Errorf("the first requests started %d servers", after-before)
	}
	if now := serverContainers(t, id); len(now) != 1 || now[0] != containers[0] {
		t.Errorf("server containers %v after the first requests, want %v", now, containers)
	}
}
