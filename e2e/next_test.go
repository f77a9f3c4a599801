package e2e

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	nextAssetRe = regexp.MustCompile(`(?:href|src)="(/_next/static/[^"]+\.(?:css|js))"`)
	fontURLRe   = regexp.MustCompile(`url\((/_next/static/media/[^)]+\.woff2)\)`)
	nowRe       = regexp.MustCompile(`<p id="now">([^<]+)</p>`)
)

// TestDeployNextApp deploys create-next-app's app/ts template built with
// output: 'standalone' and checks, through the preview host, that it behaves
// as under `next start`: pages, hashed assets, fonts, favicon, dynamic
// rendering, a route handler, a runtime env var, a streamed response and a
// redirect. Stopping berth removes the app's server container.
func TestDeployNextApp(t *testing.T) {
	requireEnv(t)
	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	repo := makeNextRepo(t)
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "next app", "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "BERTH_E2E_RUNTIME", "value": "from-berth-runtime", "target": "runtime"}, nil); code != http.StatusOK {
		t.Fatalf("set env: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	d = b.waitState(d.ID, 10*time.Minute, terminal)
	if d.State != "ready" || d.OutputType != "nextjs-standalone" {
		t.Fatalf("deployment: %+v\nlog:\n%s", d, plainLog(t, b, d.ID))
	}
	host := d.PreviewHost + ".localhost"

	res, page := b.getHost(host, "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "<title>Create Next App</title>") {
		t.Fatalf("GET /: %d\n%.500s", res.StatusCode, page)
	}
	assets := nextAssetRe.FindAllStringSubmatch(string(page), -1)
	var css string
	var sawJS, sawCSS bool
	for _, a := range assets {
		res, body := b.getHost(host, a[1])
		if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d, Cache-Control %q", a[1], res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if strings.HasSuffix(a[1], ".css") {
			sawCSS, css = true, css+string(body)
		} else {
			sawJS = true
		}
	}
	if !sawCSS || !sawJS {
		t.Fatalf("page links no CSS or no JS chunk: %v", assets)
	}
	font := fontURLRe.FindStringSubmatch(css)
	if font == nil {
		t.Fatalf("CSS has no woff2 font")
	}
	if res, body := b.getHost(host, font[1]); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "font/woff2" || len(body) < 1000 {
		t.Errorf("font %s: %d %q %d bytes", font[1], res.StatusCode, res.Header.Get("Content-Type"), len(body))
	}
	if res, _ := b.getHost(host, "/favicon.ico"); res.StatusCode != http.StatusOK {
		t.Errorf("favicon: %d", res.StatusCode)
	}
	if res, _ := b.getHost(host, "/next.svg"); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("public file: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	_, one := b.getHost(host, "/dynamic")
	_, two := b.getHost(host, "/dynamic")
	a, c := nowRe.FindSubmatch(one), nowRe.FindSubmatch(two)
	if a == nil || c == nil || string(a[1]) == string(c[1]) {
		t.Errorf("dynamic page not rendered per request: %q / %q", a, c)
	}
	if res, body := b.getHost(host, "/api/hello"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"hello":"berth"`) ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("route handler: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if _, body := b.getHost(host, "/env"); !strings.Contains(string(body), "from-berth-runtime") {
		t.Errorf("runtime env var not visible to the app:\n%.300s", body)
	}

	// The redirect passes through unchanged.
	req, _ := http.NewRequest(http.MethodGet, b.url("/old"), nil)
	req.Host = host
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := noFollow.Do(req); err != nil || res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != "/" {
		t.Errorf("redirect: %v %v", res, err)
	}

	// The stream arrives in pieces: the first chunk well before the last.
	req, _ = http.NewRequest(http.MethodGet, b.url("/stream"), nil)
	req.Host = host
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(res.Body)
	first, _ := rd.ReadString('\n')
	firstAt := time.Since(start)
	rest, _ := rd.ReadString(0)
	lastAt := time.Since(start)
	res.Body.Close()
	if first != "chunk 1\n" || !strings.Contains(rest, "chunk 3") || lastAt-firstAt < 800*time.Millisecond {
		t.Errorf("stream: first %q at %s, rest %q at %s: want pieces about 500ms apart", first, firstAt, rest, lastAt)
	}

	if ids := serverContainers(t, d.ID); len(ids) != 1 {
		t.Errorf("server containers while serving: %v, want one", ids)
	}
	b.stop()
	if ids := serverContainers(t, d.ID); len(ids) != 0 {
		t.Errorf("server containers left after berth stopped: %v", ids)
	}
}

func serverContainers(t *testing.T, deploymentID string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=dev.berth.deployment="+deploymentID,
		"--filter", "label=dev.berth.role=server").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}
