package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/client"
)

const (
	workerBuilds = 8 // deployments queued at once in each measurement
	// workerTarget is the most the 2-worker wall time may be of the
	// 1-worker one: two builds overlapping on two cores.
	workerTarget = 0.8
)

// workers compares 8 deployments of the create-vite vanilla template queued
// at once, built by one `berth worker` and by two (each with one build
// slot), behind a `berth serve` that builds nothing itself: wall time from
// the first deployment API call to the last `ready`. Every measurement has
// new projects and the build cache off, so no build is cheaper for coming
// after another; the two arms alternate which goes first.
func (b *bench) workers(ctx context.Context) error {
	if b.o.s3Endpoint == "" {
		return fmt.Errorf("no S3 endpoint: workers upload to S3, and bench/run starts a MinIO for this section (or pass -s3-endpoint)")
	}
	repo, err := b.viteRepo()
	if err != nil {
		return err
	}
	dc, err := dockerClient()
	if err != nil {
		return err
	}
	defer dc.Close()
	bucket := fmt.Sprintf("berthbench-%d", time.Now().UnixNano())
	var one, two, ratios []float64
	var raw []string
	for i := range b.o.buildRounds {
		var r1, r2 workersResult
		err := alternate(i,
			func() (err error) { r1, err = b.workersRound(ctx, dc, repo, bucket, i, 1); return },
			func() (err error) { r2, err = b.workersRound(ctx, dc, repo, bucket, i, 2); return })
		if err != nil {
			return err
		}
		one, two = append(one, r1.wall.Seconds()), append(two, r2.wall.Seconds())
		ratios = append(ratios, r2.wall.Seconds()/r1.wall.Seconds())
		first, second := r1, r2
		if i%2 == 1 {
			first, second = r2, r1
		}
		raw = append(raw, fmt.Sprintf("round %d: %s; %s; 2/1 %.2f×", i+1, first, second, r2.wall.Seconds()/r1.wall.Seconds()))
		b.log.Info("workers round", slog.Int("round", i+1), slog.Duration("one", r1.wall), slog.Duration("two", r2.wall))
	}
	// The median of the rounds' ratios: the two arms of a round run back to
	// back, so a burst of other work on this shared machine moves fewer
	// rounds' ratios than it moves the medians of the raw times.
	x := median(ratios)
	b.r.add(row{Name: fmt.Sprintf("%d queued builds of create-vite (vanilla), 2 workers vs 1", workerBuilds),
		Berth: fmt.Sprintf("2 workers %.1f s", median(two)), Baseline: fmt.Sprintf("1 worker %.1f s", median(one)),
		Compare: ratio(x), Target: fmt.Sprintf("≤ %.2f× (%d cores)", workerTarget, runtime.NumCPU()), Met: x <= workerTarget, Raw: raw})
	b.r.note("workers: two workers with one build slot each can at best halve the wall time (0.5×); here both, their builds and "+
		"everything else on the machine share its %d cores. Per measurement: \"build\" is the median of one build on its worker "+
		"(first to last log line; it grows when builds contend), \"CPU per build\" comes from the build containers' cgroups and "+
		"the serve and worker processes, \"cores allow\" is %d builds × that CPU ÷ cores (the least wall time the cores permit, "+
		"Docker's own work not counted), \"cores busy\" is the whole machine's average over the measurement (from /proc/stat), "+
		"with the part the builds, serve and the workers did not use (Docker's work for the builds and whatever else runs here) "+
		"and the whole machine's average in the 3 s before.", runtime.NumCPU(), workerBuilds)
	return nil
}

// workersResult is one measurement: its wall time and what explains it.
type workersResult struct {
	workers int
	wall    time.Duration
	build   time.Duration // median of one build's first to last log line
	slowest time.Duration // the longest build
	idle    time.Duration // a worker's average time without a build
	phases  [4]float64    // medians of buildPhases, seconds
	cores   float64       // average busy cores over the measurement
	before  float64       // average busy cores in the 3 s before it (other load)
	// CPU seconds per build: its container, and serve and the workers.
	cpuContainer, cpuProcs float64
	perBuild               map[string]int // builds per worker id
}

func (r workersResult) String() string {
	var counts []string
	for id := 1; id <= r.workers; id++ {
		counts = append(counts, strconv.Itoa(r.perBuild[workerName(id)]))
	}
	return fmt.Sprintf("%d worker(s) %.1f s (build %.1f s, slowest %.1f s, a worker idle %.1f s; median build: before install %.1f s, install %.1f s, build %.1f s, after %.1f s; "+
		"CPU per build %.2f s in its container + %.2f s in berth serve and workers, cores allow %.1f s; "+
		"cores busy %.2f, of which %.2f not these builds' (Docker and other work), %.2f in the 3 s before; builds per worker %s)",
		r.workers, r.wall.Seconds(), r.build.Seconds(), r.slowest.Seconds(), r.idle.Seconds(), r.phases[0], r.phases[1], r.phases[2], r.phases[3],
		r.cpuContainer, r.cpuProcs, workerBuilds*(r.cpuContainer+r.cpuProcs)/float64(runtime.NumCPU()),
		r.cores, r.cores-workerBuilds*(r.cpuContainer+r.cpuProcs)/r.wall.Seconds(), r.before, strings.Join(counts, "+"))
}

func workerName(i int) string { return fmt.Sprintf("bench-worker-%d", i) }

var builtByRe = regexp.MustCompile(`Built by worker (\S+) on `)

// workersRound starts a serve with n workers, queues the deployments,
// waits for all of them and stops everything again.
func (b *bench) workersRound(ctx context.Context, dc *client.Client, repo, bucket string, round, n int) (workersResult, error) {
	res := workersResult{workers: n, perBuild: map[string]int{}}
	natsPort, err := freePort()
	if err != nil {
		return res, err
	}
	s3 := []string{"BERTH_S3_ENDPOINT=" + b.o.s3Endpoint, "BERTH_S3_ACCESS_KEY=" + b.o.s3AccessKey,
		"BERTH_S3_SECRET_KEY=" + b.o.s3SecretKey, "BERTH_S3_BUCKET=" + bucket}
	serveDir := mkdir(b.o.work, "workers-serve")
	srv, err := startBerth(ctx, b.o, serveDir, append([]string{
		"BERTH_NATS_LISTEN=" + fmt.Sprintf("127.0.0.1:%d", natsPort),
		"BERTH_BUILD_CONCURRENCY=0",
	}, s3...)...)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	var ws []*workerProc
	var instances []string
	pids := []int{srv.cmd.Process.Pid}
	defer func() {
		for _, w := range ws {
			w.stop()
		}
	}()
	for i := 1; i <= n; i++ {
		dir := mkdir(b.o.work, "worker")
		w, err := startWorker(ctx, b.o, serveDir, dir, workerName(i), fmt.Sprintf("nats://127.0.0.1:%d", natsPort), s3)
		if err != nil {
			return res, err
		}
		ws = append(ws, w)
		instance, err := os.ReadFile(filepath.Join(dir, "instance-id"))
		if err != nil {
			return res, fmt.Errorf("read the worker's instance id: %w", err)
		}
		instances = append(instances, strings.TrimSpace(string(instance)))
		pids = append(pids, w.cmd.Process.Pid)
	}

	// Projects are made before the clock starts: only the builds are timed.
	var projects []project
	for j := range workerBuilds {
		pr, err := srv.createProject(ctx, fmt.Sprintf("vite r%d w%d n%d", round+1, n, j+1), repo, nil)
		if err != nil {
			return res, err
		}
		projects = append(projects, pr)
	}
	// What else this machine is doing (it is shared), for the raw figures.
	cpu0, err := cpuTimes()
	if err != nil {
		return res, err
	}
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	if cpu0, err = cpu0.since(&res.before); err != nil {
		return res, err
	}
	meter := newCPUMeter(dc, instances, pids)
	started := time.Now()
	ids := make([]string, 0, workerBuilds)
	for _, pr := range projects {
		d, err := srv.deploy(ctx, pr.ID)
		if err != nil {
			return res, err
		}
		ids = append(ids, d.ID)
	}
	err = srv.waitAll(ctx, ids, buildTimeout)
	containers, procs, seen := meter.finish()
	if err != nil {
		for _, w := range ws {
			err = fmt.Errorf("%w\n%s:\n%s", err, w.id, w.logText())
		}
		return res, err
	}
	res.wall = time.Since(started)
	if seen != workerBuilds {
		return res, fmt.Errorf("CPU accounting saw %d build containers under %s, not %d (cgroup v1 and Docker's cgroupfs driver expected)", seen, cgroupRoot, workerBuilds)
	}
	res.cpuContainer, res.cpuProcs = containers/workerBuilds, procs/workerBuilds
	if _, err := cpu0.since(&res.cores); err != nil {
		return res, err
	}

	var builds []float64
	var phases [4][]float64
	for _, id := range ids {
		lines, _, err := srv.timeline(ctx, id)
		if err != nil {
			return res, err
		}
		if len(lines) > 0 {
			builds = append(builds, lines[len(lines)-1].At.Sub(lines[0].At).Seconds())
		}
		if ph, ok := buildPhases(lines); ok {
			for k := range ph {
				phases[k] = append(phases[k], ph[k])
			}
		}
		for _, l := range lines {
			if m := builtByRe.FindStringSubmatch(l.Text); m != nil {
				res.perBuild[m[1]]++
			}
		}
	}
	res.build = time.Duration(median(builds) * float64(time.Second))
	var sum float64
	for _, x := range builds {
		sum += x
		res.slowest = max(res.slowest, time.Duration(x*float64(time.Second)))
	}
	res.idle = res.wall - time.Duration(sum/float64(n)*float64(time.Second))
	for k := range phases {
		res.phases[k] = median(phases[k])
	}
	return res, nil
}

// buildPhases splits one build's log, from its first line on the worker, by
// the same markers as the build section: before the install (clone,
// container), the install, the app's build, and after it (output, upload).
func buildPhases(lines []logLine) ([4]float64, bool) {
	var ph [4]float64
	if len(lines) == 0 {
		return ph, false
	}
	var start, installed, built time.Time
	for _, l := range lines {
		switch {
		case start.IsZero() && (strings.HasPrefix(l.Text, "Install: ") || strings.HasPrefix(l.Text, "Build: ")):
			start = l.At
		case installed.IsZero() && installDoneRe.MatchString(l.Text):
			installed = l.At
		case strings.HasPrefix(l.Text, "Build finished in"):
			built = l.At
		}
	}
	if start.IsZero() || installed.IsZero() || built.IsZero() {
		return ph, false
	}
	first, last := lines[0].At, lines[len(lines)-1].At
	ph = [4]float64{start.Sub(first).Seconds(), installed.Sub(start).Seconds(), built.Sub(installed).Seconds(), last.Sub(built).Seconds()}
	return ph, true
}

// waitAll polls the deployments every 100 ms until all are ready; one in
// error or cancelled ends the wait with its log.
func (p *berthProc) waitAll(ctx context.Context, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pending := append([]string(nil), ids...)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d deployments not ready after %s", len(pending), len(ids), timeout)
		}
		var still []string
		for _, id := range pending {
			var d deployment
			if err := p.api(ctx, http.MethodGet, "/v1/deployments/"+id, nil, &d); err != nil {
				return err
			}
			switch d.State {
			case "ready":
			case "error", "cancelled":
				return fmt.Errorf("deployment %s %s: %s\n%s", id, d.State, d.Error, p.buildLog(ctx, id))
			default:
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// viteRepo commits create-vite's vanilla template into a new repository,
// with "_gitignore" renamed back as the create-vite CLI does.
func (b *bench) viteRepo() (string, error) {
	src := filepath.Join(b.o.fixtures, "create-vite", "template-vanilla")
	dir := mkdir(b.o.work, "vite")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.Name() == "_gitignore" {
			rel = filepath.Join(filepath.Dir(rel), ".gitignore")
		}
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("copy the vite template: %w", err)
	}
	return dir, commitRepo(dir)
}

// workerProc is one running `berth worker`.
type workerProc struct {
	id   string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// startWorker starts a worker of the serve whose data directory is
// serveDir, with one build slot and no build cache, and returns once it
// takes jobs.
func startWorker(ctx context.Context, o options, serveDir, dataDir, id, natsURL string, s3 []string) (*workerProc, error) {
	key, err := os.ReadFile(filepath.Join(serveDir, "worker.key"))
	if err != nil {
		return nil, fmt.Errorf("read the worker key: %w", err)
	}
	keyFile := filepath.Join(dataDir, "worker.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, err
	}
	w := &workerProc{id: id, done: make(chan struct{})}
	cmd := exec.Command(o.berth, "worker",
		"-data-dir", dataDir,
		"-worker-id", id,
		"-worker-key-file", keyFile,
		"-nats-url", natsURL,
		"-nats-user", "worker",
		"-nats-password-file", filepath.Join(serveDir, "nats", "worker.password"),
		"-build-concurrency", "1",
		"-build-cache-mb", "0",
		"-build-image", o.image,
		"-extra-ca-file", o.caFile,
		"-log-level", "info",
	)
	cmd.Env = append(os.Environ(), s3...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start berth worker: %w", err)
	}
	w.cmd = cmd
	ready := make(chan struct{})
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.OnceFunc(func() { close(ready) })
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			if w.logs.Len() < 4<<20 {
				w.logs.WriteString(line + "\n")
			}
			w.mu.Unlock()
			if strings.Contains(line, ": taking build jobs") {
				once()
			}
		}
		cmd.Wait()
	}()
	select {
	case <-ready:
		return w, nil
	case <-w.done:
		return nil, fmt.Errorf("berth worker %s exited before taking jobs:\n%s", id, w.logText())
	case <-time.After(60 * time.Second):
		w.stop()
		return nil, fmt.Errorf("berth worker %s did not take jobs in 60s:\n%s", id, w.logText())
	case <-ctx.Done():
		w.stop()
		return nil, ctx.Err()
	}
}

func (w *workerProc) logText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.logs.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// stop sends SIGTERM (the worker drains: nothing runs by now) and waits.
func (w *workerProc) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(90 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
}

// cpuJiffies are the machine's CPU times from /proc/stat, all CPUs summed.
type cpuJiffies struct{ busy, total float64 }

// since stores the average busy cores from c to now in *cores and returns
// now's times.
func (c cpuJiffies) since(cores *float64) (cpuJiffies, error) {
	now, err := cpuTimes()
	if err != nil {
		return now, err
	}
	if now.total > c.total {
		*cores = float64(runtime.NumCPU()) * (now.busy - c.busy) / (now.total - c.total)
	}
	return now, nil
}

func cpuTimes() (cpuJiffies, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuJiffies{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuJiffies{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var c cpuJiffies
	for i, f := range fields[1:] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return cpuJiffies{}, fmt.Errorf("parse /proc/stat: %w", err)
		}
		if i >= 7 { // guest time is already counted in user
			break
		}
		c.total += v
		if i != 3 && i != 4 { // idle, iowait
			c.busy += v
		}
	}
	return c, nil
}

// cpuMeter adds up the CPU time of one measurement's build containers (by
// their cgroup, sampled every 100 ms while they run) and of the berth
// processes (serve and workers, from /proc), so that the raw figures say
// what a build costs apart from the rest of this shared machine.
type cpuMeter struct {
	dc        *client.Client
	instances map[string]bool // the workers' instance ids (the containers' label)
	pids      []int
	start     map[int]float64

	mu    sync.Mutex
	ours  map[string]bool    // container id → one of this measurement's builds
	usage map[string]float64 // container id → CPU seconds so far
	stop  chan struct{}
	done  chan struct{}
}

func newCPUMeter(dc *client.Client, instances []string, pids []int) *cpuMeter {
	m := &cpuMeter{dc: dc, instances: map[string]bool{}, pids: pids, start: map[int]float64{},
		ours: map[string]bool{}, usage: map[string]float64{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, i := range instances {
		m.instances[i] = true
	}
	for _, pid := range pids {
		m.start[pid] = procCPU(pid)
	}
	go m.loop()
	return m
}

func (m *cpuMeter) loop() {
	defer close(m.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		m.sample()
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// cgroupRoot is where cgroup v1 (Docker's cgroupfs driver) keeps the
// containers' CPU accounting.
const cgroupRoot = "/sys/fs/cgroup/cpuacct/docker"

func (m *cpuMeter) sample() {
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || len(id) != 64 {
			continue
		}
		ours, known := m.ours[id]
		if !known {
			info, err := m.dc.ContainerInspect(context.Background(), id)
			if err != nil {
				continue
			}
			ours = m.instances[info.Config.Labels["dev.berth.instance"]] && info.Config.Labels["dev.berth.role"] == "build"
			m.ours[id] = ours
		}
		if !ours {
			continue
		}
		data, err := os.ReadFile(filepath.Join(cgroupRoot, id, "cpuacct.usage"))
		if err != nil {
			continue
		}
		if ns, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 64); err == nil {
			m.mu.Lock()
			m.usage[id] = max(m.usage[id], ns/1e9)
			m.mu.Unlock()
		}
	}
}

// finish stops the sampling and returns the containers' and the processes'
// CPU seconds, and how many build containers it saw.
func (m *cpuMeter) finish() (containers, procs float64, n int) {
	for _, pid := range m.pids {
		procs += procCPU(pid) - m.start[pid]
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.usage {
		containers += s
	}
	return containers, procs, len(m.usage)
}

// procCPU is a process's user and system CPU seconds so far (0 when gone).
func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // USER_HZ
}
