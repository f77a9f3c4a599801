package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// static compares a static preview file served through berth's host router
// with nginx serving the same file from disk: wrk, 50 connections, the
// servers taking turns, for a 10 KB and a 200 KB file. A bare in-memory
// net/http handler runs in the same rounds as a reference: what Go's HTTP
// server itself reaches on this machine.
func (b *bench) static(ctx context.Context) error {
	site := mkdir(b.o.work, "site")
	if err := staticSite(site); err != nil {
		return err
	}
	if err := commitRepo(site); err != nil {
		return err
	}
	_, d, _, err := b.main.deployRepo(ctx, "static bench", site, nil, 5*time.Minute)
	if err != nil {
		return err
	}
	ng, err := startNginx(b.o.work, site, nil)
	if err != nil {
		return err
	}
	defer ng.stop()
	bare, err := startBare(site, nil)
	if err != nil {
		return err
	}
	defer bare.stop()

	files := []struct{ name, path string }{
		{"10 KB", "/assets/app-10k.js"},
		{"200 KB", "/assets/vendor-200k.js"},
	}
	berthURL := func(p string) string { return b.main.url(p) }
	nginxURL := func(p string) string { return "http://" + ng.addr + p }
	for _, f := range files {
		if err := sameBody(berthURL(f.path), d.host(), nginxURL(f.path)); err != nil {
			return err
		}
		// Warm both: berth's disk and memory caches, nginx's page cache.
		if _, err := wrk(ctx, berthURL(f.path), d.host(), 50, 2, time.Second); err != nil {
			return err
		}
		if _, err := wrk(ctx, nginxURL(f.path), "", 50, 2, time.Second); err != nil {
			return err
		}
	}
	for _, f := range files {
		var bRPS, nRPS, gRPS, bP99, nP99, rpsRatios, p99Ratios, bareRatios []float64
		var raw []string
		for i := range b.o.pairs {
			var br, nr, gr wrkResult
			runs := []func() error{
				func() (err error) { br, err = wrk(ctx, berthURL(f.path), d.host(), 50, 2, b.o.duration); return },
				func() (err error) { nr, err = wrk(ctx, nginxURL(f.path), "", 50, 2, b.o.duration); return },
				func() (err error) { gr, err = wrk(ctx, "http://"+bare.addr+f.path, "", 50, 2, b.o.duration); return },
			}
			for k := range runs { // rotate the order round by round
				if err := runs[(i+k)%len(runs)](); err != nil {
					return err
				}
			}
			bRPS, nRPS, gRPS = append(bRPS, br.RPS), append(nRPS, nr.RPS), append(gRPS, gr.RPS)
			bP99, nP99 = append(bP99, br.P99), append(nP99, nr.P99)
			rpsRatios, p99Ratios = append(rpsRatios, br.RPS/nr.RPS), append(p99Ratios, br.P99/nr.P99)
			bareRatios = append(bareRatios, gr.RPS/nr.RPS)
			raw = append(raw, fmt.Sprintf("round %d: berth %.0f req/s p50 %s p99 %s; nginx %.0f req/s p50 %s p99 %s; bare net/http %.0f req/s p99 %s", i+1,
				br.RPS, fmtMs(br.P50), fmtMs(br.P99), nr.RPS, fmtMs(nr.P50), fmtMs(nr.P99), gr.RPS, fmtMs(gr.P99)))
		}
		rpsRatio, p99Ratio := median(rpsRatios), median(p99Ratios)
		b.r.add(row{
			Name:     "static " + f.name + " file (wrk, 50 connections)",
			Berth:    fmt.Sprintf("%.0f req/s, p99 %s", median(bRPS), fmtMs(median(bP99))),
			Baseline: fmt.Sprintf("nginx %.0f req/s, p99 %s", median(nRPS), fmtMs(median(nP99))),
			Compare:  fmt.Sprintf("%s req/s, %s p99", ratio(rpsRatio), ratio(p99Ratio)),
			Target:   "≥ 0.75× req/s, ≤ 2× p99",
			Met:      rpsRatio >= 0.75 && p99Ratio <= 2,
			Raw:      raw,
		})
		b.r.note("static %s: a bare in-memory net/http handler (no routing, 3 headers) reached %.0f req/s, %s nginx's, in the same rounds.",
			f.name, median(gRPS), ratio(median(bareRatios)))
	}
	return nil
}

// bareServer is this program serving a folder from memory with nothing but
// net/http: the ceiling for any Go server here.
type bareServer struct {
	cmd  *exec.Cmd
	addr string
}

func startBare(root string, tc *tlsFiles) (*bareServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{bareFlag, addr, root}
	if tc != nil {
		args = append(args, tc.cert, tc.key)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return &bareServer{cmd: cmd, addr: addr}, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("bare server did not listen on %s", addr)
}

func (g *bareServer) stop() {
	g.cmd.Process.Kill()
	g.cmd.Wait()
}

const bareFlag = "-serve-bare"

// serveBare serves every file under root from memory, with the three
// headers a static server cannot do without; over HTTPS (and HTTP/2) when
// given a certificate and key file.
func serveBare(addr, root string, certKey ...string) error {
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, err := os.ReadFile(p)
		files["/"+filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"text/javascript"}
		h["Content-Length"] = []string{strconv.Itoa(len(data))}
		h["Etag"] = []string{`"bench"`}
		w.Write(data)
	})
	if len(certKey) == 2 {
		return http.ListenAndServeTLS(addr, certKey[0], certKey[1], handler)
	}
	return http.ListenAndServe(addr, handler)
}

// alternate runs a and b back to back, a first in even rounds and b first
// in odd ones, so that neither always runs on the warmer machine.
func alternate(round int, a, b func() error) error {
	if round%2 == 1 {
		a, b = b, a
	}
	if err := a(); err != nil {
		return err
	}
	return b()
}

// sameBody checks that berth and nginx answer with the same bytes.
func sameBody(berthURL, host, nginxURL string) error {
	get := func(url, host string) ([]byte, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if host != "" {
			req.Host = host
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s (Host %s): %s", url, host, res.Status)
		}
		return io.ReadAll(res.Body)
	}
	a, err := get(berthURL, host)
	if err != nil {
		return err
	}
	c, err := get(nginxURL, "")
	if err != nil {
		return err
	}
	if !bytes.Equal(a, c) {
		return fmt.Errorf("berth and nginx serve different bytes for %s", berthURL)
	}
	return nil
}

type nginx struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startNginx serves root on a free loopback port with a production-style
// configuration: a worker per core, sendfile, keep-alive, no access log
// (berth keeps none per request either); with tc, over HTTPS with HTTP/2.
func startNginx(work, root string, tc *tlsFiles) (*nginx, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := mkdir(work, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	conf := fmt.Sprintf(`user root;
worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  server {
    listen 127.0.0.1:%[2]d%[4]s;
    root %[3]s;
  }
}
`, dir, port, root, nginxTLS(tc))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", confPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n := &nginx{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	go func() { cmd.Wait(); close(n.done) }()
	for start := time.Now(); ; {
		if c, err := net.Dial("tcp", n.addr); err == nil {
			c.Close()
			return n, nil
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("nginx exited at start; see %s/logs/error.log", dir)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			n.stop()
			return nil, fmt.Errorf("nginx did not listen on %s", n.addr)
		}
	}
}

func (n *nginx) stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
