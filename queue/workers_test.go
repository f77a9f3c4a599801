package queue

import (
	"testing"
	"time"
)

// Heartbeats travel from a worker's client to the control plane's
// directory, which shows a silent worker as gone and then forgets it.
func TestWorkerHeartbeatsAndDirectory(t *testing.T) {
	q := startQueue(t)
	c := q.Client()
	dir := NewDirectory()
	now := time.Now()
	dir.now = func() time.Time { return now }
	stop, err := c.OnWorkers(dir.Seen)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, id := range []string{"w2", "w1"} {
		if err := c.PublishWorker(WorkerInfo{ID: id, Host: "h-" + id, Capacity: 2, Labels: []string{"big"}}); err != nil {
			t.Fatal(err)
		}
	}
	// A heartbeat whose subject does not name its worker is dropped.
	if err := c.nc.Publish(SubjectWorkers+"w9", []byte(`{"id":"w1","host":"forged"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two heartbeats", func() bool { return len(dir.List()) == 2 })
	list := dir.List()
	if list[0].ID != "w1" || list[1].ID != "w2" || list[0].Gone || list[0].Host != "h-w1" || list[0].Capacity != 2 {
		t.Fatalf("list = %+v", list)
	}
	now = now.Add(2 * WorkerHeartbeat)
	dir.Seen(WorkerInfo{ID: "w2", Host: "h-w2"})
	now = now.Add(2 * WorkerHeartbeat) // w1: 4 beats missing, w2: 2
	list = dir.List()
	if list[0].ID != "w2" || list[0].Gone || list[1].ID != "w1" || !list[1].Gone {
		t.Fatalf("after silence: %+v; want w2 live first, w1 gone", list)
	}
	now = now.Add(2 * time.Hour)
	if list := dir.List(); len(list) != 0 {
		t.Fatalf("workers silent for hours are still listed: %+v", list)
	}
}
