package e2e

import (
	"testing"

	"github.com/berth-dev/berth/internal/testapp"
)

// nextExtra is written over testapp.NextApp to exercise what berth serves:
// a redirect (/old -> / with 307), a page reading a runtime variable (/env,
// BERTH_E2E_RUNTIME) and a streamed response (/stream).
var nextExtra = map[string]string{
	"next.config.ts": `import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  output: "standalone",
  async redirects() {
    return [{ source: "/old", destination: "/", permanent: false }];
  },
};

export default nextConfig;
`,

	"app/env/page.tsx": `export const dynamic = "force-dynamic";

export default function Env() {
  return <p id="env">{process.env.BERTH_E2E_RUNTIME ?? "unset"}</p>;
}
`,

	// Three chunks 500 ms apart: a proxy that buffers shows as one late read.
	"app/stream/route.ts": `export const dynamic = "force-dynamic";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function GET() {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(encoder.encode("chunk 1\n"));
      await sleep(500);
      controller.enqueue(encoder.encode("chunk 2\n"));
      await sleep(500);
      controller.enqueue(encoder.encode("chunk 3\n"));
      controller.close();
    },
  });
  return new Response(body, { headers: { "Content-Type": "text/plain" } });
}
`,
}

// makeNextRepo writes the Next.js app of testapp.NextApp with nextExtra,
// commits it on main in a new repository and returns the path.
func makeNextRepo(t *testing.T) string {
	t.Helper()
	files, err := testapp.NextApp(fixture(t, ""), nextExtra)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := testapp.WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "Initial commit from Create Next App", true)
	return dir
}
