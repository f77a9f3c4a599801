package deploys

import (
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/store"
)

// Update is what live log viewers of one deployment receive: new lines, a
// new state, or both.
type Update struct {
	Lines []store.LogLine
	State string
	Error string
}

// Subscriber is one live viewer. When its buffer is full, updates are
// dropped and Lagged is set; the viewer then catches up from the database.
type Subscriber struct {
	C      chan Update
	Lagged atomic.Bool
}

// broker fans a deployment's updates out to its live viewers in memory.
type broker struct {
	mu     sync.Mutex
	subs   map[string]map[*Subscriber]struct{}
	closed bool
}

func newBroker() *broker { return &broker{subs: map[string]map[*Subscriber]struct{}{}} }

func (b *broker) subscribe(deploymentID string) (*Subscriber, func()) {
	sub := &Subscriber{C: make(chan Update, 256)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(sub.C)
		return sub, func() {}
	}
	if b.subs[deploymentID] == nil {
		b.subs[deploymentID] = map[*Subscriber]struct{}{}
	}
	b.subs[deploymentID][sub] = struct{}{}
	return sub, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[deploymentID][sub]; ok {
			delete(b.subs[deploymentID], sub)
			if len(b.subs[deploymentID]) == 0 {
				delete(b.subs, deploymentID)
			}
		}
	}
}

// publish never blocks: a slow viewer is marked lagged instead.
func (b *broker) publish(deploymentID string, u Update) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs[deploymentID] {
		select {
		case sub.C <- u:
		default:
			sub.Lagged.Store(true)
		}
	}
}

// closeAll ends every live stream (server shutdown).
func (b *broker) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for id, subs := range b.subs {
		for sub := range subs {
			close(sub.C)
		}
		delete(b.subs, id)
	}
}
