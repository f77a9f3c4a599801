package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/berth-dev/berth/store"
)

// TestCompose runs deploy/compose.yaml as it is, with docker-compose, berth's image built from
// the Dockerfile and a local MinIO image, on ports of the test's own; deploys the Vite template
// through it and finds the artifacts in the compose file's MinIO, in the bucket berth made.
// An override file adds only what the test itself needs: the build image, the CA bundle, a
// network name of its own and its repositories' directory.
func TestCompose(t *testing.T) {
	requireEnv(t, "BERTH_TEST_MINIO_IMAGE")
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed (scripts/test installs Debian's)")
	}
	image := berthImage(t)
	composeFile, err := filepath.Abs("../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}

	project := "berth-e2e-compose-" + strings.ToLower(store.NewID(4))
	tmpRoot := filepath.Dir(t.TempDir())
	override := `services:
  berth:
    volumes:
      - ` + tmpRoot + `:` + tmpRoot + `:ro
    environment:
      BERTH_BUILD_IMAGE: ` + os.Getenv("BERTH_BUILD_IMAGE") + `
      BERTH_NETWORK: ` + project + `
      BERTH_LOG_LEVEL: debug
`
	if ca := os.Getenv("BERTH_EXTRA_CA_FILE"); ca != "" {
		override = strings.Replace(override, "    environment:\n",
			"      - "+ca+":/etc/berth/extra-ca.pem:ro\n    environment:\n      BERTH_EXTRA_CA_FILE: /etc/berth/extra-ca.pem\n", 1)
	}
	overrideFile := filepath.Join(t.TempDir(), "override.yaml")
	if err := os.WriteFile(overrideFile, []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}

	port, minioPort, consolePort := freePort(t), freePort(t), freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	minioAddr := "127.0.0.1:" + strconv.Itoa(minioPort)
	const minioUser, minioPassword = "berth-e2e", "berth-e2e-compose-secret"
	env := append(os.Environ(),
		"BERTH_IMAGE="+image,
		"MINIO_IMAGE="+os.Getenv("BERTH_TEST_MINIO_IMAGE"),
		"BERTH_PUBLIC_URL=http://localhost:"+strconv.Itoa(port),
		"BERTH_APP_DOMAIN=localhost",
		"BERTH_TLS=off",
		"BERTH_ADDR="+addr,
		"BERTH_ADMIN_TOKEN="+adminToken,
		"MINIO_PORT="+strconv.Itoa(minioPort),
		"MINIO_CONSOLE_PORT="+strconv.Itoa(consolePort),
		"MINIO_ROOT_USER="+minioUser,
		"MINIO_ROOT_PASSWORD="+minioPassword,
	)
	compose := func(args ...string) ([]byte, error) {
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", composeFile, "-f", overrideFile}, args...)...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose("logs", "--no-color")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := compose("down", "-v", "--remove-orphans", "-t", "30"); err != nil {
			t.Errorf("docker-compose down: %v: %s", err, out)
		}
		exec.Command("docker", "network", "rm", project).Run()
	})

	if out, err := compose("up", "-d", "--no-build"); err != nil {
		t.Fatalf("docker-compose up: %v: %s", err, out)
	}
	berthID := func() string {
		out, _ := compose("ps", "-q", "berth")
		return strings.TrimSpace(string(out))
	}
	// berth may start before MinIO answers and exit; its restart policy starts it again.
	waitHTTP(t, "http://"+addr+"/", 2*time.Minute, func() error { return nil })
	if id := berthID(); id == "" {
		t.Fatal("no berth container in the compose project")
	}

	b := &berthProc{t: t, addr: addr, client: &http.Client{Timeout: 60 * time.Second}}
	d := deployVite(t, b)

	mc, err := minio.New(minioAddr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for obj := range mc.ListObjects(ctx, "berth", minio.ListObjectsOptions{Prefix: "deployments/" + d.ID + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list the compose MinIO's bucket: %v", obj.Err)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("the compose MinIO holds %d objects of the deployment; want its files and manifest", n)
	}
}
