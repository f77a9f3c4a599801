package queue

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// SubjectWorkers carries workers' heartbeats (core NATS, not stored): a
// control plane that starts learns of every live worker within one
// WorkerHeartbeat.
const SubjectWorkers = "berth.workers." // + worker id

// WorkerHeartbeat is how often a worker says it is alive; one missing
// three in a row is shown as gone. Its jobs come back by JetStream's
// redelivery once their ack wait passes without InProgress.
const WorkerHeartbeat = 5 * time.Second

// WorkerInfo is what a worker says of itself in each heartbeat.
type WorkerInfo struct {
	ID        string    `json:"id"`
	Host      string    `json:"host"`
	Version   string    `json:"version"`
	Labels    []string  `json:"labels"`
	Running   int       `json:"running"`
	Capacity  int       `json:"capacity"`
	Draining  bool      `json:"draining,omitempty"`
	StartedAt time.Time `json:"started_at"`
	At        time.Time `json:"at"` // when the worker sent it
}

// PublishWorker sends one heartbeat.
func (c *Client) PublishWorker(info WorkerInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode worker heartbeat: %w", err)
	}
	if err := c.nc.Publish(SubjectWorkers+info.ID, data); err != nil {
		return fmt.Errorf("publish worker heartbeat: %w", err)
	}
	return nil
}

// OnWorkers calls fn (on a NATS goroutine) with every heartbeat until stop
// is called. A heartbeat whose subject does not name its worker is dropped.
func (c *Client) OnWorkers(fn func(WorkerInfo)) (stop func(), err error) {
	sub, err := c.nc.Subscribe(SubjectWorkers+"*", func(m *nats.Msg) {
		var w WorkerInfo
		if json.Unmarshal(m.Data, &w) != nil || w.ID != strings.TrimPrefix(m.Subject, SubjectWorkers) {
			return
		}
		fn(w)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to worker heartbeats: %w", err)
	}
	if err := c.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to worker heartbeats: %w", err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// WorkerStatus is a worker as the control plane last heard of it.
type WorkerStatus struct {
	WorkerInfo
	// LastSeen is when the control plane received the last heartbeat (its
	// own clock, so a worker's skewed clock does not hide it).
	LastSeen time.Time `json:"last_seen"`
	// Gone is set once three heartbeats in a row are missing.
	Gone bool `json:"gone"`
}

// Directory remembers the workers heard from. A worker gone for an hour is
// forgotten.
type Directory struct {
	mu      sync.Mutex
	workers map[string]WorkerStatus
	now     func() time.Time
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{workers: map[string]WorkerStatus{}, now: time.Now}
}

// Seen records a heartbeat.
func (d *Directory) Seen(w WorkerInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.workers[w.ID] = WorkerStatus{WorkerInfo: w, LastSeen: d.now()}
}

// List returns the workers, live ones first, each group by id.
func (d *Directory) List() []WorkerStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	out := make([]WorkerStatus, 0, len(d.workers))
	for id, w := range d.workers {
		age := now.Sub(w.LastSeen)
		if age > time.Hour {
			delete(d.workers, id)
			continue
		}
		w.Gone = age > 3*WorkerHeartbeat
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WorkerStatus) int {
		if a.Gone != b.Gone {
			if a.Gone {
				return 1
			}
			return -1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
