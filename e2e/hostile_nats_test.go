package e2e

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileNATSListener: berth refuses a NATS listener beyond loopback
// without TLS; on loopback the listener turns away anonymous clients and
// wrong passwords, and takes the worker password berth generated into the
// data directory (logged by path, never by value).
func TestHostileNATSListener(t *testing.T) {
	requireEnv(t)
	for _, listen := range []string{"0.0.0.0:4222", ":4222"} {
		dataDir := t.TempDir()
		out, err := runBerthToExit(t, dataDir, "BERTH_NATS_LISTEN="+listen)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "set BERTH_NATS_TLS_CERT and BERTH_NATS_TLS_KEY") {
			t.Fatalf("BERTH_NATS_LISTEN=%s without TLS: %v, want exit status 1 saying what to set; output:\n%s", listen, err, out)
		}
	}

	dataDir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	b := startBerth(t, dataDir, "BERTH_NATS_LISTEN="+addr)
	pwFile := filepath.Join(dataDir, "nats", "worker.password")
	raw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(raw))
	if fi, err := os.Stat(pwFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", pwFile, err, fi.Mode())
	}
	if log := b.logText(); !strings.Contains(log, pwFile) || strings.Contains(log, pw) {
		t.Fatalf("the log should name %s and never hold the password:\n%s", pwFile, log)
	}
	for _, tt := range []struct {
		name, connect, want string
	}{
		{"anonymous", `{"verbose":false}`, "-ERR 'Authorization Violation'"},
		{"wrong password", `{"verbose":false,"user":"worker","pass":"` + pw + `x"}`, "-ERR 'Authorization Violation'"},
		{"the berth user", `{"verbose":false,"user":"berth","pass":"` + pw + `"}`, "-ERR 'Authorization Violation'"},
		{"the worker password", `{"verbose":false,"user":"worker","pass":"` + pw + `"}`, "PONG"},
	} {
		if got := natsHello(t, addr, tt.connect); got != tt.want {
			t.Errorf("%s: the listener answers %q, want %q", tt.name, got, tt.want)
		}
	}
}

// natsHello speaks the NATS protocol by hand: it reads INFO, which must
// demand credentials, sends CONNECT and PING, and returns the first answer.
func natsHello(t *testing.T, addr, connect string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.Contains(info, `"auth_required":true`) {
		t.Fatalf("INFO %q, %v; want auth_required", info, err)
	}
	if _, err := conn.Write([]byte("CONNECT " + connect + "\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to CONNECT: %v", err)
	}
	return strings.TrimSpace(line)
}
