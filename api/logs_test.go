package api_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

type logData struct {
	Line   int64
	Stream string
	Text   string
}

type doneData struct {
	State string
	Error string
}

// checkLog checks that evs are log lines first..last with texts
// "line <n>", in order, then done with state and errMsg.
func checkLog(t *testing.T, evs []sseEvent, first, last int, state, errMsg string) {
	t.Helper()
	want := last - first + 1
	if len(evs) != want+1 {
		t.Fatalf("%d events, want %d lines and done: %v", len(evs), want, evs)
	}
	for i, ev := range evs[:want] {
		n := first + i
		var l logData
		if err := json.Unmarshal([]byte(ev.data), &l); err != nil {
			t.Fatalf("event %d data %q: %v", i, ev.data, err)
		}
		if ev.event != "log" || ev.id != strconv.Itoa(n) || l.Line != int64(n) || l.Text != fmt.Sprintf("line %d", n) || l.Stream != "stdout" {
			t.Errorf("event %d = %+v (%+v), want log line %d", i, ev, l, n)
		}
	}
	done := evs[want]
	var d doneData
	if err := json.Unmarshal([]byte(done.data), &d); err != nil {
		t.Fatalf("done data %q: %v", done.data, err)
	}
	if done.event != "done" || d.State != state || d.Error != errMsg {
		t.Errorf("done = %+v %+v, want state %q error %q", done, d, state, errMsg)
	}
}

func lines(id string, from, to int) []queue.Event {
	var evs []queue.Event
	for n := from; n <= to; n++ {
		ev := logEvent(id, fmt.Sprintf("line %d", n))
		ev.At = time.Now()
		evs = append(evs, ev)
	}
	return evs
}

// TestLogStream: a viewer arriving after the events gets the whole log,
// resumes from Last-Event-ID, or reads it as plain text.
func TestLogStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	const errMsg = "npm ERR! missing script: build"

	failed := stateEvent(d.ID, model.StateError)
	failed.Error = errMsg
	h.publish(t, lines(d.ID, 1, 2)...)
	h.publish(t, stateEvent(d.ID, model.StateBuilding))
	h.publish(t, lines(d.ID, 3, 5)...)
	h.publish(t, failed)

	checkLog(t, readUntilDone(t, h.openStream(t, adminToken, d.ID, nil, 20*time.Second)), 1, 5, "error", errMsg)

	t.Run("Last-Event-ID", func(t *testing.T) {
		r := h.openStream(t, adminToken, d.ID, map[string]string{"Last-Event-ID": "2"}, 20*time.Second)
		checkLog(t, readUntilDone(t, r), 3, 5, "error", errMsg)
	})
	t.Run("Last-Event-ID at the end", func(t *testing.T) {
		r := h.openStream(t, adminToken, d.ID, map[string]string{"Last-Event-ID": "5"}, 20*time.Second)
		checkLog(t, readUntilDone(t, r), 6, 5, "error", errMsg)
	})
	t.Run("plain text", func(t *testing.T) {
		res := h.do(t, request{method: "GET", path: "/v1/deployments/" + d.ID + "/logs", token: adminToken,
			header: map[string]string{"Accept": "text/plain"}})
		if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
			t.Errorf("status %d Content-Type %q", res.status, res.header.Get("Content-Type"))
		}
		if want := "line 1\nline 2\nline 3\nline 4\nline 5\n"; string(res.body) != want {
			t.Errorf("body %q, want %q", res.body, want)
		}
	})

	var out deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &out)
	if out.State != "error" || out.Error != errMsg {
		t.Errorf("deployment after events: %+v", out)
	}
}

// TestLogStreamLive: a viewer connected before the build starts sees each
// line as it is published, then done.
func TestLogStreamLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	r := h.openStream(t, adminToken, d.ID, nil, 20*time.Second)

	next := func(n int) {
		t.Helper()
		ev, err := readEvent(r)
		if err != nil {
			t.Fatalf("waiting for line %d: %v", n, err)
		}
		if ev.event != "log" || ev.id != strconv.Itoa(n) || !strings.Contains(ev.data, fmt.Sprintf(`"text":"line %d"`, n)) {
			t.Fatalf("got %+v, want line %d", ev, n)
		}
	}
	h.publish(t, lines(d.ID, 1, 1)...)
	next(1)
	h.publish(t, stateEvent(d.ID, model.StateBuilding))
	for n := 2; n <= 4; n++ {
		h.publish(t, lines(d.ID, n, n)...)
		next(n)
	}
	failed := stateEvent(d.ID, model.StateError)
	failed.Error = "exit status 1"
	h.publish(t, lines(d.ID, 5, 6)...)
	h.publish(t, failed)
	checkLog(t, readUntilDone(t, r), 5, 6, "error", "exit status 1")
}

// TestLogStreamCancel: cancelling ends live streams with done.
func TestLogStreamCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	r := h.openStream(t, adminToken, d.ID, nil, 20*time.Second)
	h.publish(t, lines(d.ID, 1, 1)...)
	if ev, err := readEvent(r); err != nil || ev.id != "1" {
		t.Fatalf("first line: %+v, %v", ev, err)
	}
	h.mustAPI(t, 200, "POST", "/v1/deployments/"+d.ID+"/cancel", adminToken, nil, nil)
	checkLog(t, readUntilDone(t, r), 2, 1, "cancelled", "Cancelled.")
}

// TestLogStreamLong: more lines than one page of the store, live and late.
func TestLogStreamLong(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	const n = 2500
	live := h.openStream(t, adminToken, d.ID, nil, 60*time.Second)
	h.publish(t, stateEvent(d.ID, model.StateBuilding))
	for _, ev := range lines(d.ID, 1, n) {
		if err := h.Queue.Client().PublishEventAsync(ev); err != nil {
			t.Fatal(err)
		}
	}
	failed := stateEvent(d.ID, model.StateError)
	failed.Error = "too long"
	h.publish(t, failed) // stored after the async ones
	checkLog(t, readUntilDone(t, live), 1, n, "error", "too long")
	late := h.openStream(t, adminToken, d.ID, map[string]string{"Last-Event-ID": "10"}, 60*time.Second)
	checkLog(t, readUntilDone(t, late), 11, n, "error", "too long")
}

// TestEventsOfDeletedDeploymentAreDropped: a worker may still emit lines
// after its project was deleted. Those events must be settled (dropped),
// not retried forever.
func TestEventsOfDeletedDeploymentAreDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gone := h.createProject(t, adminToken, "gone")
	dg := h.createDeployment(t, adminToken, gone.ID)
	h.mustAPI(t, 204, "DELETE", "/v1/projects/"+gone.ID, adminToken, nil, nil)
	h.publish(t, lines(dg.ID, 1, 2)...)
	waitSettled(t, h)
}

// TestBadEventsAreDropped: an event the server cannot use (of a kind or a
// state it does not know, say from a newer worker, or a "queued" that only
// the control plane may set) is dropped, not retried forever, and changes
// nothing.
func TestBadEventsAreDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	h.publish(t, queue.Event{DeploymentID: d.ID, Kind: "bogus", State: model.StateReady},
		stateEvent(d.ID, "exploded"), stateEvent(d.ID, model.StateBuilding), stateEvent(d.ID, model.StateQueued))
	waitSettled(t, h)
	var out deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &out)
	if out.State != "building" {
		t.Errorf("state %q, want building (the one good event)", out.State)
	}
}

// TestFailedBatchLosesNoEvents: when storing a batch fails for a while
// (here another process holds SQLite's write lock past the busy timeout),
// its events are stored once the database is back, in order: a later event
// of the same deployment never overtakes them.
func TestFailedBatchLosesNoEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	r := h.openStream(t, adminToken, d.ID, nil, 60*time.Second)

	release := h.lockDB(t)
	failedWrite := h.Logs.wait("store events; retrying")
	h.publish(t, lines(d.ID, 1, 3)...)
	select {
	case <-failedWrite:
	case <-time.After(30 * time.Second):
		t.Fatal("the event writer did not fail while the database was locked")
	}
	release()
	failed := stateEvent(d.ID, model.StateError)
	failed.Error = "boom"
	h.publish(t, failed)
	checkLog(t, readUntilDone(t, r), 1, 3, "error", "boom")
	waitSettled(t, h)
}

// waitSettled waits until the store consumer has applied or dropped every
// event (a minute bounds a test that would otherwise hang).
func waitSettled(t *testing.T, h *harness) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ok bool
		if ok, err = h.Queue.Client().EventsCaughtUp(t.Context()); ok && err == nil {
			return
		}
	}
	t.Fatalf("events not settled within a minute (%v)", err)
}

func TestLogsOfUnknownDeployment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, accept := range []string{"text/event-stream", "text/plain"} {
		res := h.do(t, request{method: "GET", path: "/v1/deployments/nope/logs", token: adminToken, header: map[string]string{"Accept": accept}})
		wantError(t, res, 404, "not_found")
	}
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	res := h.do(t, request{method: "GET", path: "/v1/deployments/" + d.ID + "/logs", token: adminToken, header: map[string]string{"Accept": "text/plain"}})
	if res.status != 200 || len(res.body) != 0 {
		t.Errorf("plain log of a deployment with no lines: %d %q", res.status, res.body)
	}
}

// TestStoredLogIsCapped: whatever a builder sends, berth stores at most
// MaxLogLines lines of one log, the last one saying so, and still applies
// the final state.
func TestStoredLogIsCapped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *api.Config, c *deploys.Config) { c.MaxLogLines = 20 })
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	h.publish(t, stateEvent(d.ID, model.StateBuilding))
	h.publish(t, lines(d.ID, 1, 50)...)
	failed := stateEvent(d.ID, model.StateError)
	failed.Error = "too long"
	h.publish(t, failed)
	evs := readUntilDone(t, h.openStream(t, adminToken, d.ID, nil, 60*time.Second))
	if len(evs) != 21 || !strings.Contains(evs[19].data, "no more of this log") || !strings.Contains(evs[20].data, `"error"`) {
		t.Fatalf("got %d events (%v); want 20 lines, the last a note, then done with error", len(evs), evs)
	}
}
