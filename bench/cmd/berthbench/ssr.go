package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

const (
	ssrPath  = "/dynamic" // rendered on every request (force-dynamic)
	ssrConns = 16         // enough to keep the one-CPU server busy
)

func dockerClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// ssr compares warm requests through berth's proxy with the same Next.js
// server container hit directly on its published port: throughput with wrk
// and the median latency of one connection, in back-to-back pairs.
func (b *bench) ssr(ctx context.Context) error {
	if err := b.ensureNextDeployment(ctx); err != nil {
		return err
	}
	d := *b.nextDep
	if _, err := firstByte(ctx, b.main.url(ssrPath), d.host()); err != nil {
		return err
	}
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	direct, err := serverAddr(ctx, dc, d.ID)
	if err != nil {
		return err
	}
	berthURL, directURL := b.main.url(ssrPath), "http://"+direct+ssrPath
	// Warm-up: Next.js compiles nothing at run time, but V8 does, for some
	// seconds of load; both paths reach the same server, so both warm it.
	for _, u := range []struct{ url, host string }{{berthURL, d.host()}, {directURL, ""}} {
		if _, err := wrk(ctx, u.url, u.host, ssrConns, 2, 5*time.Second); err != nil {
			return err
		}
	}
	var bRPS, dRPS, bP50, dP50, ratios, added []float64
	var raw []string
	for i := range b.o.pairs {
		var bt, dt, bl, dl wrkResult
		viaBerth := func() (err error) {
			if bt, err = wrk(ctx, berthURL, d.host(), ssrConns, 2, b.o.duration); err == nil {
				bl, err = wrk(ctx, berthURL, d.host(), 1, 1, b.o.duration)
			}
			return
		}
		viaDirect := func() (err error) {
			if dt, err = wrk(ctx, directURL, "", ssrConns, 2, b.o.duration); err == nil {
				dl, err = wrk(ctx, directURL, "", 1, 1, b.o.duration)
			}
			return
		}
		if err := alternate(i, viaBerth, viaDirect); err != nil {
			return err
		}
		bRPS, dRPS = append(bRPS, bt.RPS), append(dRPS, dt.RPS)
		bP50, dP50 = append(bP50, bl.P50), append(dP50, dl.P50)
		ratios, added = append(ratios, bt.RPS/dt.RPS), append(added, bl.P50-dl.P50)
		raw = append(raw, fmt.Sprintf("pair %d: berth %.0f req/s, 1-connection p50 %s; direct %.0f req/s, 1-connection p50 %s", i+1,
			bt.RPS, fmtMs(bl.P50), dt.RPS, fmtMs(dl.P50)))
	}
	rps, add := median(ratios), median(added)
	b.r.add(row{
		Name:     fmt.Sprintf("warm SSR request (Next.js %s, wrk %d connections)", ssrPath, ssrConns),
		Berth:    fmt.Sprintf("%.0f req/s, p50 %s", median(bRPS), fmtMs(median(bP50))),
		Baseline: fmt.Sprintf("direct %.0f req/s, p50 %s", median(dRPS), fmtMs(median(dP50))),
		Compare:  fmt.Sprintf("%s req/s, %+.2f ms p50", ratio(rps), add),
		Target:   "≥ 0.9× req/s, ≤ +1 ms p50",
		Met:      rps >= 0.9 && add <= 1,
		Raw:      raw,
	})
	return nil
}

// cold compares the first byte from an idle Next.js deployment with bare
// `node server.js` started in a container of the same image that already
// holds the same server bundle, from the start call to its first HTTP
// answer. Idle means what it does in production: berth stopped the
// deployment's server after its idle timeout (1 s here; the reaper looks
// every 15 s). The very first start after berth itself starts, when no
// stopped container exists yet, is reported in the raw figures.
func (b *bench) cold(ctx context.Context) error {
	if err := b.ensureNextDeployment(ctx); err != nil {
		return err
	}
	d := *b.nextDep
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	if err := b.idleMain(ctx); err != nil {
		return err
	}
	p := b.main
	first, err := firstByte(ctx, p.url(ssrPath), d.host())
	if err != nil {
		return err
	}
	bundle := filepath.Join(b.main.dataDir, "artifacts", "deployments", d.ID, "server.tar.gz")
	var berth, bare []float64
	raw := []string{fmt.Sprintf("first start after berth started (no stopped container to reuse): %s", ms(first))}
	for i := range b.o.rounds {
		var bt, nt time.Duration
		viaBerth := func() error {
			if _, err := firstByte(ctx, p.url(ssrPath), d.host()); err != nil {
				return err
			}
			if err := waitIdle(ctx, dc, d.ID); err != nil {
				return err
			}
			var err error
			bt, err = firstByte(ctx, p.url(ssrPath), d.host())
			return err
		}
		viaBare := func() (err error) { nt, err = bareStart(ctx, dc, b.o.image, bundle); return }
		steps := []func() error{viaBerth, viaBare}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		berth, bare = append(berth, float64(bt)/1e6), append(bare, float64(nt)/1e6)
		raw = append(raw, fmt.Sprintf("round %d: berth %s; bare node server.js %s", i+1, ms(bt), ms(nt)))
	}
	added := median(berth) - median(bare)
	b.r.add(row{Name: "cold start: first byte from an idle Next.js deployment", Berth: fmtMs(median(berth)),
		Baseline: "bare node server.js " + fmtMs(median(bare)), Compare: fmt.Sprintf("%+.0f ms", added),
		Target: "≤ bare + 300 ms", Met: added <= 300, Raw: raw})
	return nil
}

// waitIdle waits until berth has stopped the deployment's server for
// idleness: no server container of it runs.
func waitIdle(ctx context.Context, dc *client.Client, deploymentID string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		list, err := dc.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", "dev.berth.deployment="+deploymentID), filters.Arg("label", "dev.berth.role=server"))})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server of %s was not stopped within a minute of idleness", deploymentID)
}

// firstByte sends GET url with host on a new connection and returns the
// time to the first byte of a 200 answer.
func firstByte(ctx context.Context, url, host string) (time.Duration, error) {
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	req.Host = host
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	started := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s (Host %s): %s", url, host, res.Status)
	}
	return first.Sub(started), nil
}

// serverAddr finds the loopback address of a deployment's running server.
func serverAddr(ctx context.Context, dc *client.Client, deploymentID string) (string, error) {
	list, err := dc.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "dev.berth.deployment="+deploymentID), filters.Arg("label", "dev.berth.role=server"))})
	if err != nil {
		return "", err
	}
	for _, c := range list {
		for _, p := range c.Ports {
			if p.PrivatePort == 3000 && p.PublicPort != 0 {
				return "127.0.0.1:" + strconv.Itoa(int(p.PublicPort)), nil
			}
		}
	}
	return "", fmt.Errorf("no running server container for deployment %s", deploymentID)
}

// bareStart creates a container like berth's server container (same image,
// user, limits, env), copies the bundle in, and then times the start call
// to the first HTTP answer of `node server.js`, polling every 5 ms.
func bareStart(ctx context.Context, dc *client.Client, image, bundle string) (time.Duration, error) {
	return bareContainer(ctx, dc, bareSpec{image: image, cmd: []string{"node", "server.js"}, workDir: "/app", port: 3000,
		env:    []string{"PORT=3000", "HOSTNAME=0.0.0.0", "NODE_ENV=production", "NEXT_TELEMETRY_DISABLED=1"},
		bundle: bundle, path: ssrPath})
}

// bareSpec is a server container as berth would run it, without berth.
type bareSpec struct {
	image   string
	cmd     []string // nil: the image's own
	env     []string
	workDir string // "": the image's own
	port    int    // the port it listens on in the container
	bundle  string // a gzipped server bundle extracted into /app; "": none
	path    string // the path whose first answer counts
}

// bareContainer creates the container of s (user 1000:1000, berth's default
// limits, its port published on loopback), copies the bundle in, and then
// times the start call to the first HTTP answer of s.path, polling every
// 5 ms.
func bareContainer(ctx context.Context, dc *client.Client, s bareSpec) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	p := nat.Port(strconv.Itoa(s.port) + "/tcp")
	pids := int64(1024)
	created, err := dc.ContainerCreate(ctx, &container.Config{
		Image: s.image, Cmd: s.cmd, User: "1000:1000", WorkingDir: s.workDir,
		Env:          s.env,
		ExposedPorts: nat.PortSet{p: struct{}{}},
		Labels:       map[string]string{"dev.berth.role": "bench"},
	}, &container.HostConfig{
		PortBindings: nat.PortMap{p: []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(port)}}},
		Resources:    container.Resources{Memory: 1 << 30, MemorySwap: 1 << 30, NanoCPUs: 1e9, PidsLimit: &pids},
		CapDrop:      []string{"ALL"},
		SecurityOpt:  []string{"no-new-privileges"},
	}, nil, nil, "")
	if err != nil {
		return 0, err
	}
	defer dc.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	if s.bundle != "" {
		if err := copyBundle(ctx, dc, created.ID, s.bundle); err != nil {
			return 0, err
		}
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + s.path
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	started := time.Now()
	if err := dc.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return 0, err
	}
	for time.Since(started) < time.Minute {
		var first time.Time
		trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("bare server: GET %s: %s", s.path, res.Status)
			}
			return first.Sub(started), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, errors.New("bare server did not answer within a minute")
}

// copyBundle extracts the gzipped server bundle into /app, owned by node.
func copyBundle(ctx context.Context, dc *client.Client, id, bundle string) error {
	f, err := os.Open(bundle)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tr := tar.NewReader(zr)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755, Uid: 1000, Gid: 1000})
		for err == nil {
			var h *tar.Header
			if h, err = tr.Next(); err != nil {
				break
			}
			h.Name = "app/" + h.Name
			if h.Typeflag == tar.TypeLink {
				h.Linkname = "app/" + h.Linkname
			}
			h.Uid, h.Gid, h.Uname, h.Gname = 1000, 1000, "", ""
			if err = tw.WriteHeader(h); err == nil {
				_, err = io.Copy(tw, tr)
			}
		}
		if err == io.EOF {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return dc.CopyToContainer(ctx, id, "/", pr, container.CopyToContainerOptions{})
}
