package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/testapp"
)

const (
	sseViewers = 100
	sseLines   = 300
	sseEvery   = 10 * time.Millisecond
)

// logScript prints numbered lines stamped with the container's wall clock
// (the host's: containers share its kernel) in microseconds, after a pause
// that lets every viewer connect.
const logScript = `const n = +process.argv[2], every = +process.argv[3];
const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
setTimeout(() => {
  let i = 0;
  const t = setInterval(() => {
    process.stdout.write("BENCH " + i + " " + now() + "\n");
    if (++i === n) clearInterval(t);
  }, every);
}, 3000);
`

// sse measures how long a log line takes from the build container's stdout
// to each of 100 live SSE viewers of the deployment's log.
func (b *bench) sse(ctx context.Context) error {
	repo := mkdir(b.o.work, "logs")
	if err := testapp.WriteFiles(repo, map[string][]byte{
		"index.html": []byte("<!doctype html><title>logs</title>\n"),
		"log.js":     []byte(logScript),
	}); err != nil {
		return err
	}
	if err := commitRepo(repo); err != nil {
		return err
	}
	pr, err := b.main.createProject(ctx, "log bench", repo, map[string]string{
		"build_command": fmt.Sprintf("node log.js %d %d", sseLines, sseEvery.Milliseconds()),
	})
	if err != nil {
		return err
	}
	rounds := min(b.o.rounds, 3)
	var p99s []float64
	var raw []string
	for i := range rounds {
		lat, err := b.sseRound(ctx, pr.ID)
		if err != nil {
			return err
		}
		p99s = append(p99s, percentile(lat, 99))
		raw = append(raw, fmt.Sprintf("round %d: %d deliveries, p50 %s, p99 %s, max %s", i+1, len(lat),
			fmtMs(percentile(lat, 50)), fmtMs(percentile(lat, 99)), fmtMs(percentile(lat, 100))))
	}
	p99 := median(p99s)
	b.r.add(row{Name: "log line, build container to SSE client (100 viewers)", Berth: "p99 " + fmtMs(p99), Baseline: "—",
		Compare: "p99 " + fmtMs(p99), Target: "p99 ≤ 50 ms", Met: p99 <= 50, Raw: raw})
	return nil
}

// sseRound deploys once with sseViewers viewers following the log and
// returns every line's delivery latency in milliseconds.
func (b *bench) sseRound(ctx context.Context, projectID string) ([]float64, error) {
	d, err := b.main.deploy(ctx, projectID)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: sseViewers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	var lat []float64
	errs := make(chan error, sseViewers)
	var wg sync.WaitGroup
	for range sseViewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := follow(ctx, client, b.main.url("/v1/deployments/"+d.ID+"/logs"))
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			lat = append(lat, got...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if _, err := b.main.waitDone(ctx, d.ID, time.Minute); err != nil {
		return nil, err
	}
	if want := sseViewers * sseLines; len(lat) != want {
		return nil, fmt.Errorf("viewers received %d stamped lines, want %d", len(lat), want)
	}
	return lat, nil
}

// follow reads one SSE log stream to its done event and returns the
// latency of every stamped line.
func follow(ctx context.Context, client *http.Client, url string) ([]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	var lat []float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 256<<10), 256<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "event: done" {
			return lat, nil
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		now := time.Now().UnixMicro()
		var l struct{ Text string }
		if json.Unmarshal([]byte(data), &l) != nil {
			continue
		}
		f := strings.Fields(l.Text)
		if len(f) != 3 || f[0] != "BENCH" {
			continue
		}
		stamp, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		lat = append(lat, float64(now-stamp)/1000)
	}
	return lat, fmt.Errorf("log stream ended without done: %v", sc.Err())
}
