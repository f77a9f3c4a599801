package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// TestWorkersOnNATSCluster runs berth the way it spreads builds over
// machines: a three-node NATS JetStream cluster from deploy/cluster, MinIO,
// berth serve against the cluster building nothing itself, and two berth
// workers, each with a data directory and build cache of its own. Ten
// deployments go out and are built by both workers; a worker killed in the
// middle of a build has it finished by the other; a NATS node killed does
// not stop builds, and once it is back every deployment is ready once, with
// its log numbered 1..N once.
func TestWorkersOnNATSCluster(t *testing.T) {
	requireEnv(t, "BERTH_TEST_NATS_SERVER", "BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY", "BERTH_TEST_S3_SECRET_KEY")
	c := startNATSCluster(t)
	t.Run("refusals", func(t *testing.T) { checkClusterRefusals(t, c) })
	if t.Failed() {
		return
	}
	cl := startCluster(t, c)
	b := cl.serve

	// The streams serve declared are replicated on all three nodes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js := cl.js
	for _, name := range []string{queue.StreamBuilds, queue.StreamEvents} {
		info := streamInfo(t, ctx, js, name)
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("stream %s: %d replicas, cluster %+v; want R3 over the three nodes", name, info.Config.Replicas, info.Cluster)
		}
	}

	// Ten deployments, each of a project of its own whose page says which
	// it is; both workers take some, all ten serve.
	var all []deployment
	for i := 1; i <= 10; i++ {
		all = append(all, cl.deploy(t, fmt.Sprintf("cluster app %d", i)))
	}
	builtBy := map[string]int{}
	for i, d := range all {
		d = b.waitState(d.ID, 5*time.Minute, terminal)
		if d.State != "ready" {
			t.Fatalf("deployment %d: %s (%s); log:\n%s", i+1, d.State, d.Error, plainLog(t, b, d.ID))
		}
		all[i] = d
		builtBy[workerOf(t, b, d.ID)]++
		cl.checkServes(t, d, fmt.Sprintf("cluster app %d", i+1))
	}
	if len(builtBy) != 2 {
		t.Fatalf("builds per worker: %v; want both workers to take some", builtBy)
	}
	t.Logf("builds per worker: %v", builtBy)

	// kill -9 a worker in the middle of a build: JetStream hands the job to
	// the other once the ack wait is over, and the log says it is the
	// second attempt.
	events, err := cl.berthConn.SubscribeSync(queue.SubjectEvents + ">")
	if err != nil {
		t.Fatal(err)
	}
	victim := cl.deploy(t, "cluster app killed")
	killed := ""
	for killed == "" {
		msg, err := events.NextMsg(5 * time.Minute)
		if err != nil {
			t.Fatalf("no worker took deployment %s: %v", victim.ID, err)
		}
		var ev queue.Event
		json.Unmarshal(msg.Data, &ev)
		if m := builtByRe.FindStringSubmatch(ev.Text); ev.DeploymentID == victim.ID && m != nil {
			killed = m[1]
		}
	}
	events.Unsubscribe()
	w := cl.workers[killed]
	if w == nil {
		t.Fatalf("the build log names worker %q, not one of the test's", killed)
	}
	w.kill9()
	t.Logf("killed worker %s in the middle of deployment %s", killed, victim.ID)
	// Its build container goes with it, as it would with its machine.
	removeBuildContainers(t, victim.ID)
	got := b.waitState(victim.ID, 5*time.Minute, terminal)
	vlog := plainLog(t, b, victim.ID)
	if got.State != "ready" || got.Attempt != 2 {
		t.Fatalf("after the worker died: %s on attempt %d (%s); want ready on attempt 2; log:\n%s", got.State, got.Attempt, got.Error, vlog)
	}
	if !strings.Contains(vlog, "Attempt 2 of 3: the previous run stopped before it finished.") {
		t.Errorf("the log does not say it is the second attempt:\n%s", vlog)
	}
	if by := builtByRe.FindAllStringSubmatch(vlog, -1); len(by) != 2 || by[0][1] != killed || by[1][1] == killed {
		t.Errorf("built by %q; want the killed worker %s, then the other", by, killed)
	}
	cl.checkServes(t, got, "cluster app killed")
	all = append(all, got)
	cl.waitWorker(t, killed, true)

	// Kill the NATS node that leads the BUILDS stream while a build runs:
	// the other two elect a new leader, the build finishes, and a
	// deployment made after the election is built too.
	inflight := cl.deploy(t, "cluster app across the failover")
	b.waitState(inflight.ID, 5*time.Minute, func(d deployment) bool { return d.State == model.StateBuilding || terminal(d) })
	leader := c.node(streamInfo(t, ctx, js, queue.StreamBuilds).Cluster.Leader)
	c.kill(leader)
	t.Logf("killed %s, the leader of BUILDS, while deployment %s builds", leader.name, inflight.ID)
	// A deployment made at once, while the others elect a leader: berth
	// tries its job's publish again until the stream answers.
	d := cl.deploy(t, "cluster app without a node")
	for _, name := range []string{queue.StreamBuilds, queue.StreamEvents} {
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
			info := streamInfo(t, ctx, js, name)
			if info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader.name {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stream %s: no new leader within 2 minutes of %s going: %+v", name, leader.name, info.Cluster)
			}
		}
	}
	for _, dd := range []struct {
		d     deployment
		title string
	}{{inflight, "cluster app across the failover"}, {d, "cluster app without a node"}} {
		got := b.waitState(dd.d.ID, 5*time.Minute, terminal)
		if got.State != "ready" {
			t.Fatalf("%q with %s down: %s (%s); log:\n%s", dd.title, leader.name, got.State, got.Error, plainLog(t, b, got.ID))
		}
		cl.checkServes(t, got, dd.title)
		all = append(all, got)
	}
	// It comes back and catches up.
	c.restart(leader)
	d = cl.deploy(t, "cluster app with the node back")
	d = b.waitState(d.ID, 5*time.Minute, terminal)
	if d.State != "ready" {
		t.Fatalf("with %s back: %s (%s)", leader.name, d.State, d.Error)
	}
	cl.checkServes(t, d, "cluster app with the node back")
	all = append(all, d)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		info := streamInfo(t, ctx, js, queue.StreamBuilds)
		current := info.Cluster != nil && len(info.Cluster.Replicas) == 2
		for _, r := range info.Cluster.Replicas {
			current = current && r.Current && !r.Offline
		}
		if current && info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BUILDS after %s came back: %d jobs left, replicas %+v; want none left, all current", leader.name, info.State.Msgs, info.Cluster)
		}
	}

	// Nothing lost, nothing duplicated: every deployment is ready, once,
	// from the attempt it says, and its log is numbered 1..N once and ends
	// with its build. (A job whose ack was lost with the node and that
	// came back after its deployment was ready would be refused and
	// cancelled, and its lines are not added to the finished log.)
	for _, d := range all {
		d2 := deployment{}
		b.api(http.MethodGet, "/v1/deployments/"+d.ID, nil, &d2)
		lines := numberedLog(t, b, d.ID)
		if d2.State != "ready" {
			t.Errorf("deployment %s: %s at the end", d.ID, d2.State)
		}
		ready := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "Deployment ready in") })
		if n := strings.Count(strings.Join(lines, "\n"), "Deployment ready in"); n != 1 || ready < 0 {
			t.Errorf("deployment %s was made ready %d times:\n%s", d.ID, n, strings.Join(lines, "\n"))
			continue
		}
		if n := len(builtByRe.FindAllString(strings.Join(lines, "\n"), -1)); n != d2.Attempt {
			t.Errorf("deployment %s: %d attempts in its log, the deployment says %d:\n%s", d.ID, n, d2.Attempt, strings.Join(lines, "\n"))
		}
		// After ready only berth's own note of the promotion that follows.
		if after := slices.DeleteFunc(lines[ready+1:], func(l string) bool {
			return strings.HasPrefix(l, "Promoted to production") || strings.HasPrefix(l, "Not promoted to production")
		}); len(after) > 0 {
			t.Errorf("deployment %s: lines after it was ready:\n%s", d.ID, strings.Join(after, "\n"))
		}
	}

	// A worker drains on SIGTERM and exits cleanly.
	for id, w := range cl.workers {
		if id == killed {
			continue
		}
		if err := w.terminate(time.Minute); err != nil {
			t.Errorf("worker %s on SIGTERM: %v", id, err)
		}
	}

	// With no worker left, the worker user forges a deployment's way to
	// ready with another deployment's files: berth drops the ready event.
	forged := cl.deploy(t, "cluster app forged")
	forge := c.connect(queue.UserWorker, c.workerPassword)
	publish := func(ev queue.Event) {
		t.Helper()
		ev.DeploymentID, ev.At = forged.ID, time.Now()
		data, _ := json.Marshal(ev)
		if err := forge.Publish(queue.SubjectEvents+forged.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	publish(queue.Event{Kind: queue.KindState, State: model.StateBuilding, Attempt: 1})
	publish(queue.Event{Kind: queue.KindState, State: model.StateUploading})
	publish(queue.Event{Kind: queue.KindState, State: model.StateReady, OutputType: model.OutputStatic, ArtifactKey: model.ArtifactPrefix(all[0].ID)})
	publish(queue.Event{Kind: queue.KindLog, Stream: "stdout", Text: "after the forgery"})
	if err := forge.Flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(plainLog(t, b, forged.ID), "after the forgery"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker user's events for the forged deployment never arrived")
		}
	}
	b.api(http.MethodGet, "/v1/deployments/"+forged.ID, nil, &forged)
	if forged.State != model.StateUploading {
		t.Fatalf("after a ready event naming %s's files: %s; want it still uploading", all[0].ID, forged.State)
	}
	if res, body := b.getHost(forged.PreviewHost+".localhost", "/"); res.StatusCode == http.StatusOK {
		t.Fatalf("the forged deployment serves: %s", body)
	}
}

var builtByRe = regexp.MustCompile(`Built by worker (\S+) on \S+\.`)

// workerOf is the worker whose build of deployment id made it ready.
func workerOf(t *testing.T, b *berthProc, id string) string {
	t.Helper()
	by := builtByRe.FindAllStringSubmatch(plainLog(t, b, id), -1)
	if len(by) == 0 {
		t.Fatalf("deployment %s: the log does not say which worker built it:\n%s", id, plainLog(t, b, id))
	}
	return by[len(by)-1][1]
}

// cluster is berth serve and its workers on a NATS cluster.
type cluster struct {
	nats      *natsCluster
	serve     *berthProc
	berthConn *nats.Conn
	js        jetstream.JetStream
	workers   map[string]*proc
}

// startCluster starts berth serve against the NATS cluster, with MinIO in a
// bucket of the test's own and no builds of its own, and two workers given
// the worker password and a copy of serve's worker key, the way an
// operator sets them up on other machines.
func startCluster(t *testing.T, c *natsCluster) *cluster {
	t.Helper()
	bucket := "berth-e2e-cluster-" + strings.ToLower(store.NewID(4))
	s3 := []string{
		"BERTH_S3_ENDPOINT=" + os.Getenv("BERTH_TEST_S3_ENDPOINT"),
		"BERTH_S3_ACCESS_KEY=" + os.Getenv("BERTH_TEST_S3_ACCESS_KEY"),
		"BERTH_S3_SECRET_KEY=" + os.Getenv("BERTH_TEST_S3_SECRET_KEY"),
		"BERTH_S3_BUCKET=" + bucket,
	}
	cleanBucket(t, bucket)
	secrets := t.TempDir()
	berthPW, workerPW := filepath.Join(secrets, "berth.password"), filepath.Join(secrets, "worker.password")
	writeSecret(t, berthPW, []byte(c.berthPassword+"\n"))
	writeSecret(t, workerPW, []byte(c.workerPassword+"\n"))

	serveDir := t.TempDir()
	cl := &cluster{nats: c, workers: map[string]*proc{}}
	cl.serve = startBerth(t, serveDir, append([]string{
		"BERTH_EXTRA_CA_FILE=" + os.Getenv("BERTH_EXTRA_CA_FILE"),
		"BERTH_NATS_URL=" + c.URLs(),
		"BERTH_NATS_USER=" + queue.UserBerth,
		"BERTH_NATS_PASSWORD_FILE=" + berthPW,
		"BERTH_BUILD_CONCURRENCY=0",
	}, s3...)...)
	key, err := os.ReadFile(filepath.Join(serveDir, "worker.key"))
	if err != nil {
		t.Fatalf("berth serve made no worker key: %v", err)
	}
	cl.berthConn = c.connect(queue.UserBerth, c.berthPassword)
	if cl.js, err = jetstream.New(cl.berthConn); err != nil {
		t.Fatal(err)
	}

	suffix := strings.ToLower(store.NewID(4))
	for _, name := range []string{"w1", "w2"} {
		id := name + "-" + suffix
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "worker.key")
		writeSecret(t, keyFile, key)
		w := startProc(t, "worker "+id, append([]string{
			"BERTH_DATA_DIR=" + dir,
			"BERTH_EXTRA_CA_FILE=" + os.Getenv("BERTH_EXTRA_CA_FILE"),
			"BERTH_NATS_URL=" + c.URLs(),
			"BERTH_NATS_USER=" + queue.UserWorker,
			"BERTH_NATS_PASSWORD_FILE=" + workerPW,
			"BERTH_WORKER_KEY_FILE=" + keyFile,
			"BERTH_WORKER_ID=" + id,
			"BERTH_BUILD_CONCURRENCY=1",
			"BERTH_LOG_LEVEL=debug",
		}, s3...), binary, "worker")
		cl.workers[id] = w
	}
	for id := range cl.workers {
		cl.waitWorker(t, id, false)
	}
	return cl
}

type workerStatus struct {
	ID       string `json:"id"`
	Capacity int    `json:"capacity"`
	Gone     bool   `json:"gone"`
}

// waitWorker waits until GET /v1/workers lists worker id as alive, or as
// gone.
func (cl *cluster) waitWorker(t *testing.T, id string, gone bool) {
	t.Helper()
	var list struct{ Workers []workerStatus }
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if w := cl.workers[id]; !gone && w.exited() {
			t.Fatalf("worker %s exited: %v\n%s", id, w.waitErr, w.logText())
		}
		if code := cl.serve.api(http.MethodGet, "/v1/workers", nil, &list); code != http.StatusOK {
			t.Fatalf("GET /v1/workers: %d", code)
		}
		for _, w := range list.Workers {
			if w.ID == id && w.Gone == gone && (gone || w.Capacity == 1) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s: not listed as gone=%v within 2 minutes; GET /v1/workers: %+v", id, gone, list.Workers)
		}
	}
}

// deploy creates a project of the Vite template whose page title is title,
// and deploys it.
func (cl *cluster) deploy(t *testing.T, title string) deployment {
	t.Helper()
	b := cl.serve
	repo := makeRepo(t, fixture(t, "create-vite/template-vanilla"))
	index := filepath.Join(repo, "index.html")
	page, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(index, []byte(strings.Replace(string(page), "<title>Vite + JS</title>", "<title>"+title+"</title>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "Title: "+title, false)
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": title, "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project %q: %d", title, code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy %q: %d", title, code)
	}
	t.Cleanup(func() { removeBuildContainers(t, d.ID) })
	return d
}

// checkServes fetches the deployment's page through its preview host.
func (cl *cluster) checkServes(t *testing.T, d deployment, title string) {
	t.Helper()
	res, body := cl.serve.getHost(d.PreviewHost+".localhost", "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>"+title+"</title>") {
		t.Fatalf("deployment %s (%s): GET / answers %d:\n%s", d.ID, title, res.StatusCode, body)
	}
}

// numberedLog reads a finished deployment's whole log as the dashboard
// does (server-sent events) and fails unless its lines are numbered 1..N,
// each once.
func numberedLog(t *testing.T, b *berthProc, id string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	err = readSSE(resp.Body, func(ev sseEvent) {
		if ev.Event != "log" {
			return
		}
		var l struct {
			Line int    `json:"line"`
			Text string `json:"text"`
		}
		json.Unmarshal([]byte(ev.Data), &l)
		if l.Line != len(lines)+1 || ev.ID != strconv.Itoa(l.Line) {
			t.Errorf("deployment %s: log line %d (id %s) after %d lines", id, l.Line, ev.ID, len(lines))
		}
		lines = append(lines, l.Text)
	})
	if err != nil {
		t.Fatalf("read the log of %s: %v", id, err)
	}
	if len(lines) == 0 {
		t.Errorf("deployment %s: empty log", id)
	}
	return lines
}

func streamInfo(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var last error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		// Each request has a deadline of its own: one sent while the
		// connection moves to another node may go unanswered.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := js.Stream(rctx, name)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(rctx); err == nil {
				cancel()
				return info
			}
		}
		cancel()
		last = err
	}
	t.Fatalf("stream %s: %v", name, last)
	return nil
}

// removeBuildContainers removes the deployment's build containers, if any.
func removeBuildContainers(t *testing.T, deploymentID string) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=dev.berth.deployment="+deploymentID).Output()
	if err != nil {
		t.Errorf("docker ps: %v", err)
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
			t.Errorf("docker rm: %v: %s", err, out)
		}
	}
}

// cleanBucket removes the test's bucket and everything in it at the end.
func cleanBucket(t *testing.T, bucket string) {
	t.Helper()
	mc, err := minio.New(os.Getenv("BERTH_TEST_S3_ENDPOINT"), &minio.Options{
		Creds: credentials.NewStaticV4(os.Getenv("BERTH_TEST_S3_ACCESS_KEY"), os.Getenv("BERTH_TEST_S3_SECRET_KEY"), ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeBucket(mc, bucket) })
}
