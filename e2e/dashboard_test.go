package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestDashboard drives the dashboard in Debian's headless chromium against
// the real binary: sign in with the admin token, create a project from a
// local repository, deploy it, watch the log arrive while the build runs,
// see it turn ready, open the preview, then the settings, a second build
// whose log is scrolled by the reader, phone widths, API keys and sign-out.
// Screenshots of each page go to $BERTH_SCREENSHOTS (or a temp folder).
func TestDashboard(t *testing.T) {
	requireEnv(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install -y chromium): the dashboard test needs a real browser")
	}
	b := startBerth(t, t.TempDir(), "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	repo := makeRepo(t, fixture(t, "create-vite/template-vanilla"))
	u := newUI(t, chromium, "http://"+b.addr)

	// Signed out, every page leads to the sign-in form.
	u.do(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(u.base+"/"))
	u.waitVisible("#token")
	if loc := u.location(); !strings.Contains(loc, "/sign-in") {
		t.Fatalf("signed out, / went to %s; want the sign-in page", loc)
	}
	if id := evalJS[string](u, `document.activeElement.id`); id != "token" {
		t.Errorf("focus on the sign-in page is on %q, want the token field", id)
	}
	u.shot("01-sign-in", false)
	u.do(chromedp.SendKeys(chromedp.CSS("#token"), "wrong token\n"))
	u.waitVisible(".flash-error")
	if msg := u.text(".flash-error"); !strings.Contains(msg, "That token is not valid") {
		t.Errorf("wrong token: %q", msg)
	}
	u.do(chromedp.SendKeys(chromedp.CSS("#token"), adminToken+"\n"))
	u.waitVisible(".empty")
	if txt := u.text(".empty"); !strings.Contains(txt, "Deploy your first project") {
		t.Errorf("empty state: %q", txt)
	}
	u.shot("02-projects-empty", false)

	// Create a project from the local repository.
	u.click(`.empty a[href="/projects/new"]`)
	u.waitVisible("#git_url")
	u.do(chromedp.SendKeys(chromedp.CSS("#git_url"), repo), chromedp.SendKeys(chromedp.CSS("#name"), "Vite app"))
	u.shot("03-new-project", false)
	u.click(`main form[action="/projects"] button[type="submit"]`)
	u.waitVisible(`form[action$="/deploy"] button`)
	if msg := u.text(".flash-ok"); !strings.Contains(msg, "Project created.") {
		t.Errorf("after create: notice %q", msg)
	}
	projectURL, _, _ := strings.Cut(u.location(), "?")

	// Deploy, and see log lines while the build is still running.
	u.click(`form[action$="/deploy"] button`)
	u.waitVisible("#log")
	u.do(chromedp.Evaluate[chromedp.Void](`window.berthTestMarker = "no reload"`))
	m := regexp.MustCompile(`/deployments/([0-9a-f]{32})$`).FindStringSubmatch(u.location())
	if m == nil {
		t.Fatalf("deploy went to %s, want a deployment page", u.location())
	}
	id := m[1]
	u.waitJS(`document.querySelectorAll("#log .ll").length > 0`, 3*time.Minute)
	var d deployment
	b.api(http.MethodGet, "/v1/deployments/"+id, nil, &d)
	if d.State != "building" {
		t.Fatalf("the first log lines showed with the deployment %q; want them while it is building", d.State)
	}
	first := evalJS[int](u, `document.querySelectorAll("#log .ll").length`)
	u.shot("04-deployment-building", false)
	u.waitJS(fmt.Sprintf(`document.querySelectorAll("#log .ll").length > %d`, first), 3*time.Minute)
	t.Logf("log lines on the page: %d while building, then more without a reload", first)

	u.waitJS(`document.getElementById("log").dataset.done === "ready"`, 5*time.Minute)
	if marker := evalJS[string](u, `window.berthTestMarker || ""`); marker != "no reload" {
		t.Error("the deployment page reloaded while the build ran")
	}
	u.waitJS(`document.querySelector("h1 .state").textContent === "Ready"`, time.Minute)
	u.checkLog(b, id)
	b.api(http.MethodGet, "/v1/deployments/"+id, nil, &d)
	if commit := u.text("#commit"); !strings.Contains(commit, d.CommitSHA[:7]) || !strings.Contains(commit, "Initial commit from template") {
		t.Errorf("commit line after the build: %q", commit)
	}
	// A ready build of the production branch goes live by itself: the page
	// says so instead of offering to promote it.
	u.waitJS(`!document.getElementById("production-tag").hidden && document.getElementById("promote").hidden`, time.Minute)
	if !evalJS[bool](u, `(function(l){ return l.scrollHeight - l.scrollTop - l.clientHeight < 24 })(document.getElementById("log"))`) {
		t.Error("the log did not follow the new lines to the bottom")
	}
	u.shot("05-deployment-ready", false)

	// The preview link is the deployment's preview host; it serves the app.
	preview := evalJS[string](u, `document.querySelector('a.btn[data-when="ready"]').href`)
	b.api(http.MethodGet, "/v1/deployments/"+id, nil, &d)
	if !regexp.MustCompile(`^http://[0-9a-f]{8}-preview\.localhost:\d+/$`).MatchString(preview) || preview != d.URL {
		t.Errorf("preview link %q, want the deployment's URL %q", preview, d.URL)
	}
	if evalJS[bool](u, `document.querySelector('a.btn[data-when="ready"]').hidden`) {
		t.Error("the preview link is hidden on a ready deployment")
	}
	u.click(`a.btn[data-when="ready"]`)
	u.waitVisible("#counter")
	if title := evalJS[string](u, `document.title`); title != "Vite + JS" {
		t.Errorf("preview page title %q", title)
	}
	u.shot("06-preview", false)

	// The project page lists the ready deployment, live now in production.
	u.do(chromedp.Navigate(projectURL))
	u.waitVisible(".deployments")
	if state := u.text(`tr[data-deployment="` + id + `"] .state`); state != "Ready" {
		t.Errorf("deployment row state %q", state)
	}
	if link := evalJS[string](u, `document.querySelector(".prod a").href`); link != "http://vite-app.localhost:"+portOf(d.URL)+"/" {
		t.Errorf("production link %q", link)
	}
	u.shot("07-project", true)

	// Settings: a build that prints slowly, so the reader can scroll its
	// log while it grows.
	u.do(chromedp.SetValue(chromedp.CSS("#build_command"),
		`for i in $(seq 1 150); do echo "step $i of 150"; sleep 0.04; done; npm run build`))
	u.click(`form[action$="/settings"] button[type="submit"]`)
	u.waitVisible(".flash-ok")
	if msg := u.text(".flash-ok"); !strings.Contains(msg, "Settings saved.") {
		t.Errorf("after saving settings: %q", msg)
	}
	if v := evalJS[string](u, `document.getElementById("build_command").value`); !strings.HasPrefix(v, "for i in") {
		t.Errorf("build command after saving: %q", v)
	}
	u.click(`form[action$="/deploy"] button`)
	u.waitVisible("#log")
	second := regexp.MustCompile(`/deployments/([0-9a-f]{32})$`).FindStringSubmatch(u.location())[1]
	u.waitJS(`document.body.textContent.includes("step 40 of 150")`, 3*time.Minute)
	const atBottom = `(function(l){ return l.scrollHeight - l.scrollTop - l.clientHeight < 24 })(document.getElementById("log"))`
	if !evalJS[bool](u, atBottom) {
		t.Error("the log does not follow new lines")
	}
	lines := evalJS[int](u, `(function(l){ l.scrollTop = 0; return l.querySelectorAll(".ll").length })(document.getElementById("log"))`)
	u.waitJS(fmt.Sprintf(`document.querySelectorAll("#log .ll").length > %d`, lines+20), time.Minute)
	if top := evalJS[float64](u, `document.getElementById("log").scrollTop`); top > 2 {
		t.Errorf("the log scrolled to %v after the reader scrolled up; want it to stay", top)
	}
	u.waitVisible("#log-jump")
	u.shot("08-deployment-scrolled-up", false)
	u.click("#log-jump")
	if !evalJS[bool](u, atBottom) || !evalJS[bool](u, `document.getElementById("log-jump").hidden`) {
		t.Error("Jump to the latest line did not go to the bottom")
	}
	u.waitJS(`document.getElementById("log").dataset.done !== undefined`, 5*time.Minute)
	if !evalJS[bool](u, atBottom) {
		t.Error("after jumping to the latest line, the log stopped following")
	}
	b.api(http.MethodGet, "/v1/deployments/"+second, nil, &d)
	if d.State != "ready" {
		t.Fatalf("second deployment %s: %s", d.State, d.Error)
	}
	u.checkLog(b, second)

	// A finished build's page replays the whole log.
	u.do(chromedp.Navigate(u.base + "/deployments/" + id))
	u.waitJS(`document.getElementById("log").dataset.done === "ready"`, 2*time.Minute)
	u.checkLog(b, id)

	// Phone width: no page is wider than the screen.
	u.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	for _, pg := range []struct{ name, path, wait string }{
		{"09-phone-projects", "/", ".cards"},
		{"10-phone-project", strings.TrimPrefix(projectURL, u.base), ".deployments"},
		{"11-phone-deployment", "/deployments/" + second, `#log[data-done]`},
	} {
		u.do(chromedp.Navigate(u.base + pg.path))
		u.waitVisible(pg.wait)
		// The layout viewport is the phone's width; nothing may stick out of it.
		if w := evalJS[int](u, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); w > 0 {
			t.Errorf("%s: the page is %dpx wider than a phone screen", pg.path, w)
		}
		u.shot(pg.name, true)
	}
	u.do(chromedp.EmulateViewport(1280, 900))

	// Dark mode, for a look.
	u.media("dark")
	u.do(chromedp.Navigate(u.base + "/deployments/" + second))
	u.waitVisible(`#log[data-done]`)
	u.shot("15-dark-deployment", false)
	u.media("")

	// The projects page: the project, its state and production URL.
	u.do(chromedp.Navigate(u.base + "/"))
	u.waitVisible(".cards")
	if txt := u.text(".card"); !strings.Contains(txt, "Vite app") || !strings.Contains(txt, "Ready") || !strings.Contains(txt, "vite-app.localhost") {
		t.Errorf("project card: %q", txt)
	}
	u.shot("12-projects", false)

	// API keys: the token is shown once and works; revoking it stops it.
	u.click(`nav a[href="/api-keys"]`)
	u.waitVisible("#key-name")
	u.do(chromedp.SendKeys(chromedp.CSS("#key-name"), "CI\n"))
	u.waitVisible("#new-token")
	token := evalJS[string](u, `document.getElementById("new-token").value`)
	if !strings.HasPrefix(token, "berth_") {
		t.Fatalf("new token %q", token)
	}
	if status := getWithToken(t, b, "/v1/projects", token); status != http.StatusOK {
		t.Errorf("the new key: status %d", status)
	}
	u.shot("13-api-keys", false)
	u.do(chromedp.Navigate(u.base + "/api-keys"))
	u.waitVisible(".keys")
	if html := evalJS[string](u, `document.body.innerHTML`); strings.Contains(html, token) {
		t.Error("the token is shown again after the page that created it")
	}
	u.click(`.keys form[action$="/revoke"] button`) // confirms in a dialog, accepted below
	u.waitVisible(".flash-ok")
	if status := getWithToken(t, b, "/v1/projects", token); status != http.StatusUnauthorized {
		t.Errorf("the revoked key: status %d, want 401", status)
	}

	// Another user's (or no) project is a page that says so.
	u.do(chromedp.Navigate(u.base + "/projects/00000000000000000000000000000000"))
	u.waitVisible(".error-page")
	if txt := u.text(".error-page"); !strings.Contains(txt, "Project not found.") {
		t.Errorf("unknown project page: %q", txt)
	}
	u.shot("14-not-found", false)

	// Keyboard: the skip link comes first, and Tab reaches the form's
	// controls with a visible focus ring.
	u.do(chromedp.Navigate(u.base+"/"), chromedp.KeyEvent(kb.Tab))
	if txt := evalJS[string](u, `document.activeElement.textContent`); txt != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", txt)
	}
	if outline := evalJS[string](u, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
		t.Error("the focused skip link has no outline")
	}
	u.do(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
	if txt := evalJS[string](u, `document.activeElement.textContent`); txt != "Projects" {
		t.Errorf("third Tab focuses %q, want the Projects link", txt)
	}
	if outline := evalJS[string](u, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" {
		t.Error("the focused link has no outline")
	}

	// The ANSI renderer: colours become classes, text stays text.
	got := evalJS[string](u, `berth.ansiToNodes("\x1b[1;31mred\x1b[0m plain \x1b[92m<b>x</b>\x1b[39m\x1b[38;5;208mo\x1b[0m\x1b[2Kend\rdone", document.createElement("span")).innerHTML`)
	if want := `done`; got != want {
		t.Errorf("a carriage return: %q, want %q", got, want)
	}
	got = evalJS[string](u, `berth.ansiToNodes("\x1b[1;31mred\x1b[0m plain \x1b[92m<b>x</b>\x1b[39m\x1b[38;5;208mo\x1b[0m\x1b[2Kend", document.createElement("span")).innerHTML`)
	want := `<span class="a-b f1">red</span> plain <span class="f10">&lt;b&gt;x&lt;/b&gt;</span><span style="color: rgb(255, 135, 0);">o</span>end`
	if got != want {
		t.Errorf("ANSI rendering:\n got %s\nwant %s", got, want)
	}

	// Sign out.
	u.click(`form[action="/sign-out"] button`)
	u.waitVisible("#token")
	if msg := u.text(".flash-ok"); msg != "You are signed out." {
		t.Errorf("after sign-out: %q", msg)
	}
	u.do(chromedp.Navigate(u.base + "/api-keys"))
	u.waitVisible("#token")

	u.checkProblems()
	t.Logf("screenshots in %s", u.shots)
}

// ui is one browser tab on berth's dashboard.
type ui struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string

	mu       sync.Mutex
	problems []string // script exceptions and console errors
}

func newUI(t *testing.T, chromium, base string) *ui {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-proxy-server", true), // *.localhost must reach berth, not a proxy
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	u := &ui{t: t, ctx: ctx, base: base, shots: os.Getenv("BERTH_SCREENSHOTS")}
	if u.shots == "" {
		u.shots = t.TempDir()
	} else if err := os.MkdirAll(u.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}

	var wg sync.WaitGroup
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	wg.Go(func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			u.problem("exception: %s %s", ev.ExceptionDetails.Text, describeException(ev.ExceptionDetails))
		}
	})
	wg.Go(func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			// A 4xx page is a network error to the console; the test
			// provokes some on purpose and checks them itself.
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				u.problem("console: %s (%s)", ev.Entry.Text, ev.Entry.URL)
			}
		}
	})
	wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Logf("dialog %q: accepted", ev.Message)
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				u.problem("accept dialog: %v", err)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		wg.Wait()
	})
	return u
}

func describeException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return ""
	}
	s := fmt.Sprintf("at %s:%d", d.URL, d.LineNumber)
	if d.Exception != nil {
		s += " " + d.Exception.Description
	}
	return s
}

func (u *ui) problem(format string, args ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.problems = append(u.problems, fmt.Sprintf(format, args...))
}

// checkProblems fails the test for script errors and console errors, such
// as a Content-Security-Policy violation.
func (u *ui) checkProblems() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.problems {
		u.t.Errorf("in the browser: %s", p)
	}
}

// do runs actions with a time limit, failing the test on an error.
func (u *ui) do(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.t.Fatalf("browser: %v (at %s)", err, u.location())
	}
}

// media sets prefers-color-scheme ("" for the default).
func (u *ui) media(scheme string) {
	u.t.Helper()
	params := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		params.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(u.ctx, emulation.SetEmulatedMedia, params); err != nil {
		u.t.Fatalf("emulate %q colour scheme: %v", scheme, err)
	}
}

func (u *ui) location() string {
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (u *ui) click(sel string) {
	u.t.Helper()
	u.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (u *ui) waitVisible(sel string) {
	u.t.Helper()
	u.do(chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (u *ui) text(sel string) string {
	u.t.Helper()
	return strings.TrimSpace(evalJS[string](u, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
}

// waitJS waits until expr is true in the page.
func (u *ui) waitJS(expr string, timeout time.Duration) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, timeout+10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		u.shot("failed-wait", true)
		u.t.Fatalf("waiting for %s: %v (at %s)", expr, err, u.location())
	}
}

func evalJS[T any](u *ui, expr string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot of the viewport, or of the full page.
func (u *ui) shot(name string, full bool) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	action := chromedp.CaptureScreenshot()
	if full {
		action = chromedp.FullScreenshot(100)
	}
	buf, err := chromedp.Run(ctx, action)
	if err != nil {
		u.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(u.shots, name+".png"), buf, 0o644); err != nil {
		u.t.Error(err)
	}
}

var ansiRe = regexp.MustCompile(`\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b[()][A-Za-z0-9]|\x1b[@-_]`)

// checkLog compares the log on the page with the stored log: every line,
// in order, its text with the colour codes turned into styling.
func (u *ui) checkLog(b *berthProc, id string) {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/plain")
	resp, err := b.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	stored := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	shown := evalJS[[]string](u, `Array.from(document.querySelectorAll("#log .ll .t"), e => e.textContent)`)
	if len(shown) != len(stored) {
		u.t.Fatalf("the page shows %d log lines, the log has %d", len(shown), len(stored))
	}
	colored := false
	for i, line := range stored {
		if strings.Contains(line, "\x1b[") {
			colored = true
		}
		if j := strings.LastIndex(strings.TrimRight(line, "\r"), "\r"); j >= 0 {
			line = line[j+1:]
		}
		want := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' || r == 0x7f {
				return -1
			}
			return r
		}, ansiRe.ReplaceAllString(line, ""))
		if shown[i] != want {
			u.t.Errorf("log line %d: page %q, log %q", i+1, shown[i], line)
		}
	}
	spans := evalJS[int](u, `document.querySelectorAll("#log .ll .t span[class]").length`)
	if colored && spans == 0 {
		u.t.Error("the log has colour codes but the page shows no coloured text")
	}
	u.t.Logf("deployment %s: %d log lines match, %d coloured spans", id[:8], len(shown), spans)
}

func getWithToken(t *testing.T, b *berthProc, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func portOf(rawURL string) string {
	host := strings.TrimSuffix(strings.TrimPrefix(rawURL, "http://"), "/")
	_, port, _ := strings.Cut(host, ":")
	return port
}
