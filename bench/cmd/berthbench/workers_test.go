package main

import (
	"os"
	"testing"
	"time"
)

// TestBuildPhases splits a worker's build log as the workers row reports it.
func TestBuildPhases(t *testing.T) {
	t0 := time.Unix(1796317864, 848e6)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	lines := []logLine{
		{"Built by worker bench-worker-1 on vm.", at(0)},
		{"Cloning /tmp/vite at main", at(1)},
		{"Install: npm install", at(72)},
		{"Build: npm run build", at(72)},
		{"added 15 packages in 5s", at(6441)},
		{"> vite build", at(6697)},
		{"Build finished in 7.4s.", at(7474)},
		{"Uploaded 7 files (43.9 KB) in 30ms.", at(7580)},
		{"Deployment ready in 7.6s.", at(7593)},
	}
	got, ok := buildPhases(lines)
	want := [4]float64{0.072, 6.369, 1.033, 0.119}
	if !ok {
		t.Fatal("buildPhases found no phases")
	}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Errorf("phase %d = %.3f s, want %.3f s (all %v)", i, got[i], want[i], got)
		}
	}
	if _, ok := buildPhases(lines[:4]); ok {
		t.Error("a log without the install's end gave phases")
	}
	if m := builtByRe.FindStringSubmatch(lines[0].Text); m == nil || m[1] != "bench-worker-1" {
		t.Errorf("worker of %q: %v", lines[0].Text, m)
	}
}

// TestCPUAccounting reads this machine's and this process's CPU times.
func TestCPUAccounting(t *testing.T) {
	c0, err := cpuTimes()
	if err != nil {
		t.Fatal(err)
	}
	if c0.busy <= 0 || c0.total <= c0.busy {
		t.Fatalf("cpu times %+v", c0)
	}
	before := procCPU(os.Getpid())
	for deadline := time.Now().Add(30 * time.Second); procCPU(os.Getpid()) < before+0.05; {
		if time.Now().After(deadline) {
			t.Fatal("this process's CPU time did not grow while it spun for 30 s")
		}
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	if procCPU(-1) != 0 {
		t.Error("a missing process has CPU time")
	}
}
