package e2e

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsViolations collects the permission errors a server sends a connection.
type natsViolations struct {
	mu   sync.Mutex
	errs []string
}

func (v *natsViolations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// waitPublish waits until the server has refused a publish to subject.
func (v *natsViolations) waitPublish(t *testing.T, subject string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, `Publish to "`+subject+`"`) {
				v.mu.Unlock()
				return
			}
		}
		v.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not refuse the worker's publish to %s within a minute", subject)
		}
	}
}

// checkClusterRefusals: every node of the cluster turns away anonymous
// clients and wrong passwords, and the worker user can do what a worker
// does (ask for JetStream's account info, publish a heartbeat, hear a
// cancellation) but cannot publish a job or a cancellation, reach other
// streams through the JetStream API, nor read jobs, events or everything.
func checkClusterRefusals(t *testing.T, c *natsCluster) {
	t.Helper()
	const refused, welcome = "-ERR 'Authorization Violation'", "PONG"
	for _, n := range c.nodes {
		for _, tt := range []struct{ name, connect, want string }{
			{"anonymous", `{"verbose":false}`, refused},
			{"wrong password", `{"verbose":false,"user":"worker","pass":"` + c.workerPassword + `x"}`, refused},
			{"the worker password for berth", `{"verbose":false,"user":"berth","pass":"` + c.workerPassword + `"}`, refused},
			{"no such user", `{"verbose":false,"user":"admin","pass":"` + c.berthPassword + `"}`, refused},
			{"the worker", `{"verbose":false,"user":"worker","pass":"` + c.workerPassword + `"}`, welcome},
			{"berth", `{"verbose":false,"user":"berth","pass":"` + c.berthPassword + `"}`, welcome},
		} {
			if got := natsHello(t, n.addr(), tt.connect); got != tt.want {
				t.Errorf("%s, %s: the node answers %q, want %q", n.name, tt.name, got, tt.want)
			}
		}
	}

	berth := c.connect("berth", c.berthPassword)
	v := &natsViolations{}
	worker := c.connect("worker", c.workerPassword, nats.ErrorHandler(v.handler), nats.PermissionErrOnSubscribe(true))

	// What a worker is for.
	if _, err := worker.Request("$JS.API.INFO", nil, time.Minute); err != nil {
		t.Errorf("the worker's JetStream account info: %v", err)
	}
	beats, err := berth.SubscribeSync("berth.workers.*")
	if err != nil {
		t.Fatal(err)
	}
	cancels, err := worker.SubscribeSync("deploy.cancel.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := berth.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := worker.Publish("berth.workers.probe", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := beats.NextMsg(time.Minute); err != nil {
		t.Errorf("berth heard no heartbeat from the worker user: %v", err)
	}
	if err := berth.Publish("deploy.cancel.probe", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cancels.NextMsg(time.Minute); err != nil {
		t.Errorf("the worker user heard no cancellation: %v", err)
	}

	// What it is not for: publishing is refused by the server, and nothing
	// reaches berth's subscribers on those subjects.
	spy, err := berth.SubscribeSync("builds.jobs.>")
	if err != nil {
		t.Fatal(err)
	}
	cancelSpy, err := berth.SubscribeSync("deploy.cancel.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := berth.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"builds.jobs.x", "deploy.cancel.x", "$JS.API.STREAM.PURGE.BUILDS",
		"$JS.API.STREAM.MSG.GET.EVENTS", "$JS.API.CONSUMER.MSG.NEXT.EVENTS.store", "$JS.API.STREAM.CREATE.EVIL"} {
		if err := worker.PublishRequest(subject, worker.NewInbox(), []byte(`{"deployment_id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		v.waitPublish(t, subject)
	}
	// A message the worker may send, after the refused ones: once berth
	// has it, anything sent before it has arrived too.
	if err := worker.Publish("berth.workers.probe", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := beats.NextMsg(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := berth.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nats.Subscription{spy, cancelSpy} {
		if n, _, _ := s.Pending(); n != 0 {
			msg, _ := s.NextMsg(0)
			t.Errorf("the worker user's refused publish reached berth: %s %s", msg.Subject, msg.Data)
		}
	}
	// Reading jobs, events, berth's own replies or everything is refused.
	for _, subject := range []string{"builds.jobs.>", "deploy.events.>", "_BERTH_INBOX.>", ">"} {
		sub, err := worker.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := sub.NextMsg(time.Minute); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe to %s: message %v, error %v; want a permissions violation", subject, msg, err)
		}
	}
}
