package api_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event, data string
}

// openStream requests a deployment's log stream and returns its reader once
// the response headers have arrived (the server has subscribed by then).
// The stream is cut after timeout so a broken server fails the test instead
// of hanging it.
func (h *harness) openStream(t *testing.T, token, id string, header map[string]string, timeout time.Duration) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", h.URL+"/v1/deployments/"+id+"/logs", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("log stream: status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("log stream Content-Type %q", ct)
	}
	return bufio.NewReader(res.Body)
}

// readEvent reads the next event, skipping comments (keepalives).
func readEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && seen {
				return ev, io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if seen {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		default:
			seen = true
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				ev.data = value
			}
		}
	}
}

// readUntilDone reads events up to and including `done`, then checks the
// stream ends.
func readUntilDone(t *testing.T, r *bufio.Reader) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for {
		ev, err := readEvent(r)
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
		if ev.event == "done" {
			break
		}
	}
	if rest, err := io.ReadAll(r); err != nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("after done: %q, %v; want the stream to end", rest, err)
	}
	return evs
}
