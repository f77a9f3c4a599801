package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testapp"
)

// hostileExtra is a Next.js app whose author tries to make berth hold its
// memory (a 9 MB response head) and whose visitors try to pass a forged
// address to it (/who echoes the address headers the app receives).
var hostileExtra = map[string]string{
	"next.config.ts": `import type { NextConfig } from "next";

const nextConfig: NextConfig = { output: "standalone" };

export default nextConfig;
`,
	"app/big/route.ts": `export const dynamic = "force-dynamic";

export function GET() {
  return new Response("big", { headers: { "x-big": "a".repeat(9 << 20) } });
}
`,
	"app/who/route.ts": `export const dynamic = "force-dynamic";

export function GET(req: Request) {
  const h = (name: string) => req.headers.get(name) ?? "";
  return Response.json({
    real: h("x-real-ip"), trueClient: h("true-client-ip"), cf: h("cf-connecting-ip"),
    xff: h("x-forwarded-for"), forwarded: h("forwarded"),
  });
}
`,
}

// TestHostileAppAndVisitors: B deploys an app that answers with a 9 MB
// head; its visitors get a 502 and berth keeps answering. Address headers
// a visitor forges never reach the app. A's project is unchanged.
func TestHostileAppAndVisitors(t *testing.T) {
	// B deploys from a repository made in the test, on this machine: the
	// operator allows local sources here (this test is about what an app
	// and its visitors can make berth hold, not about sources).
	tn := newTenants(t, "BERTH_ALLOW_LOCAL_GIT=true", "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"))
	var shop struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "shop", "git_url": "https://example.invalid/shop.git"}, &shop); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}

	files, err := testapp.NextApp(fixture(t, ""), hostileExtra)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if err := testapp.WriteFiles(repo, files); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "hostile app", true)
	var p struct{ ID string }
	if st, body := tn.b.as(tn.B, "POST", "/v1/projects", map[string]any{"name": "hostile", "git_url": repo}, &p); st != http.StatusCreated {
		t.Fatalf("B's project: %d %s", st, body)
	}
	var d deployment
	if st, body := tn.b.as(tn.B, "POST", "/v1/projects/"+p.ID+"/deployments", nil, &d); st != http.StatusAccepted {
		t.Fatalf("B's deployment: %d %s", st, body)
	}
	// Bounded only to end a broken test: B's own deployment, read with B's key.
	for deadline := time.Now().Add(10 * time.Minute); !terminal(d); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B's deployment never finished: %+v", d)
		}
		if st, body := tn.b.as(tn.B, "GET", "/v1/deployments/"+d.ID, nil, &d); st != http.StatusOK {
			t.Fatalf("B reads its deployment: %d %s", st, body)
		}
	}
	if d.State != "ready" || d.OutputType != "nextjs-standalone" {
		t.Fatalf("B's deployment: %+v\nberth log:\n%s", d, tn.b.logText())
	}
	host := d.PreviewHost + ".localhost"

	const forged = "203.0.113.7"
	res, body := tn.b.getHost(host, "/who", "X-Real-IP", forged, "True-Client-IP", forged, "CF-Connecting-IP", forged,
		"X-Forwarded-For", forged, "Forwarded", "for="+forged)
	var seen map[string]string
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &seen) != nil {
		t.Fatalf("GET /who: %d %.300s", res.StatusCode, body)
	}
	for name, v := range seen {
		if strings.Contains(v, forged) {
			t.Errorf("the app saw the forged address in %s: %q", name, v)
		}
	}
	if seen["real"] != "127.0.0.1" {
		t.Errorf("X-Real-IP at the app: %q, want 127.0.0.1", seen["real"])
	}

	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, tn.b.url("/big"), nil)
			req.Host = host
			if res, err := tn.b.client.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				codes[i] = res.StatusCode
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusBadGateway {
			t.Errorf("request %d for a 9 MB head: %d, want 502", i, c)
		}
	}
	if res, _ := tn.b.getHost(host, "/who"); res.StatusCode != http.StatusOK {
		t.Errorf("the app after the 9 MB heads: %d", res.StatusCode)
	}

	var after struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if st, _ := tn.b.as(tn.A, "GET", "/v1/projects/"+shop.ID, nil, &after); st != http.StatusOK || after != shop {
		t.Errorf("A's project after B's app: %d %+v, was %+v", st, after, shop)
	}
}
