package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerServer is a tiny Node http server with no dependencies: a route
// that answers differently per request, a runtime variable, a POST echo,
// and the value a build arg baked into a file at build time.
const dockerServer = `const http = require('http');
const fs = require('fs');
let hits = 0;
http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/echo') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { res.setHeader('Content-Type', 'text/plain'); res.end('echo: ' + body); });
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  switch (req.url) {
    case '/now': res.end(JSON.stringify({ hits: ++hits, now: Date.now() })); break;
    case '/env': res.end(JSON.stringify({ value: process.env.BERTH_E2E_RUNTIME || null })); break;
    case '/baked': res.end(JSON.stringify({ value: fs.readFileSync('/srv/baked.txt', 'utf8'), uid: process.getuid() })); break;
    case '/context': res.end(JSON.stringify({ ignored: fs.existsSync('/srv/notes.txt'), git: fs.existsSync('/srv/.git'), kept: fs.existsSync('/srv/package.json') })); break;
    default: res.statusCode = 404; res.end('{}');
  }
}).listen(Number(process.env.PORT), () => console.log('listening on ' + process.env.PORT));
`

// TestDeployDockerfile deploys a repository with a Dockerfile FROM the local
// Node image (no registry is reachable): berth builds it with the engine, a
// build env var as a build arg, the build's output in the log; stores the
// image as an archive; runs it as the server on its EXPOSEd port; and
// removes the image when the project is deleted. (Serve keeps the image it
// built on its engine; loading one from its archive, as a host that did not
// build it does, is apps' TestDockerImageServer.)
func TestDeployDockerfile(t *testing.T) {
	requireEnv(t)
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM " + os.Getenv("BERTH_BUILD_IMAGE") + `
ARG BERTH_E2E_BAKED
WORKDIR /srv
COPY . ./
RUN echo "baking $BERTH_E2E_BAKED" && printf '%s' "$BERTH_E2E_BAKED" > /srv/baked.txt
EXPOSE 8080
CMD ["node", "/srv/server.js"]
`,
		"server.js": dockerServer,
		// A package.json with a start script would make a Node server:
		// the Dockerfile comes first.
		"package.json": `{"name":"berth-docker-app","private":true,"scripts":{"start":"node server.js"}}` + "\n",
		// The context leaves out what .dockerignore names, and .git.
		".dockerignore": "notes.txt\n",
		"notes.txt":     "not for the image\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, "A Dockerfile app", true)

	b := startBerth(t, t.TempDir())
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "docker app", "git_url": dir}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	for _, v := range []map[string]string{
		{"key": "BERTH_E2E_RUNTIME", "value": "from-berth-runtime", "target": "runtime"},
		{"key": "BERTH_E2E_BAKED", "value": "from-build-arg", "target": "build"},
	} {
		if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", v, nil); code != http.StatusOK {
			t.Fatalf("set env %s: %d", v["key"], code)
		}
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	d = b.waitState(d.ID, 10*time.Minute, terminal)
	log := plainLog(t, b, d.ID)
	if d.State != "ready" || d.OutputType != "docker-image" {
		t.Fatalf("deployment: %+v\nlog:\n%s", d, log)
	}
	for _, want := range []string{
		"Detected Dockerfile: will build it with the Docker engine",
		"Build args from the build environment variables: BERTH_E2E_BAKED.",
		" : FROM " + os.Getenv("BERTH_BUILD_IMAGE"), // the engine's own build output, streamed
		` : RUN echo "baking $BERTH_E2E_BAKED"`,
		"baking from-build-arg",
		"Step 4/9 : COPY . ./",
		"PORT=8080",
		"Uploaded the image archive",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	image := "berth-app:" + d.ID
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", image).Run() })
	host := d.PreviewHost + ".localhost"

	var one, two struct{ Hits, Now int64 }
	for _, v := range []any{&one, &two} {
		res, body := b.getHost(host, "/now")
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, v) != nil {
			t.Fatalf("GET /now: %d %s", res.StatusCode, body)
		}
	}
	if two.Hits != one.Hits+1 {
		t.Errorf("/now answered %+v then %+v: want a new answer per request", one, two)
	}
	if res, body := b.getHost(host, "/env"); res.StatusCode != http.StatusOK || string(body) != `{"value":"from-berth-runtime"}` {
		t.Errorf("GET /env: %d %s", res.StatusCode, body)
	}
	// The image has no USER: it runs as the numeric non-root uid.
	if res, body := b.getHost(host, "/baked"); res.StatusCode != http.StatusOK || string(body) != `{"value":"from-build-arg","uid":1000}` {
		t.Errorf("GET /baked: %d %s", res.StatusCode, body)
	}
	if res, body := b.getHost(host, "/context"); res.StatusCode != http.StatusOK || string(body) != `{"ignored":false,"git":false,"kept":true}` {
		t.Errorf("GET /context: %d %s: want .dockerignore's and .git's files left out of the build context", res.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, b.url("/echo"), strings.NewReader("hello berth"))
	req.Host = host
	req.Header.Set("Content-Type", "text/plain")
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "echo: hello berth" {
		t.Errorf("POST /echo: %d %q", res.StatusCode, body)
	}
	if res, _ := b.getHost("docker-app.localhost", "/now"); res.StatusCode != http.StatusOK {
		t.Errorf("project host: %d, want 200", res.StatusCode)
	}

	// The image is on the engine under the deployment's tag; deleting the
	// project removes it.
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
		t.Fatalf("image %s is not in the engine while its server runs: %v: %s", image, err, out)
	}
	if code := b.api(http.MethodDelete, "/v1/projects/"+p.ID, nil, nil); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("delete project: %d", code)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for exec.Command("docker", "image", "inspect", image).Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("image %s is still in the engine 2 minutes after its project was deleted", image)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
