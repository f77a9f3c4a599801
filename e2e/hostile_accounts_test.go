package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// asFrom is as, sent from ip, another loopback address (on Linux all of
// 127.0.0.0/8 answers): another client as far as berth's per-address
// limits go.
func (b *berthProc) asFrom(ip, token, method, path string, body, out any) (int, string) {
	b.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	saved := b.client
	b.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	defer func() { b.client = saved }()
	return b.as(token, method, path, body, out)
}

type shopProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TestHostileAccountsGuessing: B guesses A's admin token, by bearer and by
// token sign-in, 30 times each and is throttled with 429 and Retry-After
// after 10; A, from its own address, finds its things unchanged.
func TestHostileAccountsGuessing(t *testing.T) {
	tn := newTenants(t)
	var p shopProject
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "shop", "git_url": "https://example.invalid/shop.git"}, &p); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}

	for i := range 30 {
		guess := fmt.Sprintf("e2e-admin-token-guess-%02d-0123456789abcdef", i)
		st, body := tn.b.as(guess, "GET", "/v1/projects/"+p.ID, nil, nil)
		if i < 10 && st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i+1, st, body)
		}
		if i >= 10 && (st != http.StatusTooManyRequests || !strings.Contains(body, `"rate_limited"`)) {
			t.Fatalf("guess %d: %d %s, want 429", i+1, st, body)
		}
	}
	req, _ := http.NewRequest("POST", tn.b.url("/v1/session"), strings.NewReader(`{"token":"`+tn.A+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := tn.b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 {
		t.Fatalf("token sign-in from the guessing address, even with the right token: %d, Retry-After %q; want 429",
			res.StatusCode, res.Header.Get("Retry-After"))
	}

	var got shopProject
	if st, body := tn.b.asFrom("127.0.0.2", tn.A, "GET", "/v1/projects/"+p.ID, nil, &got); st != http.StatusOK || got.Name != "shop" {
		t.Fatalf("A's project from A's address: %d %s", st, body)
	}
}

// TestHostileAccountsDisabled: B cannot list or manage users; A disables B
// and B's key stops working at once, with a sentence saying why; A's
// things are unchanged.
func TestHostileAccountsDisabled(t *testing.T) {
	tn := newTenants(t)
	var p shopProject
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "shop", "git_url": "https://example.invalid/shop.git"}, &p); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}
	var users []struct {
		ID      string `json:"id"`
		Login   string `json:"login"`
		Builtin bool   `json:"builtin"`
	}
	if st, body := tn.b.as(tn.B, "GET", "/v1/users", nil, nil); st != http.StatusForbidden {
		t.Fatalf("B lists users: %d %s, want 403", st, body)
	}
	if st, body := tn.b.as(tn.A, "GET", "/v1/users", nil, &users); st != http.StatusOK || len(users) != 2 {
		t.Fatalf("A lists users: %d %s", st, body)
	}
	var aID, bID string
	for _, u := range users {
		if u.Builtin {
			aID = u.ID
		} else if u.Login == tn.bLogin {
			bID = u.ID
		}
	}
	if aID == "" || bID == "" {
		t.Fatalf("users: %+v", users)
	}
	for _, r := range [][2]string{{"POST", "/v1/users/" + aID + "/disable"}, {"DELETE", "/v1/users/" + aID}, {"POST", "/v1/users/" + bID + "/enable"}} {
		if st, body := tn.b.as(tn.B, r[0], r[1], nil, nil); st != http.StatusForbidden {
			t.Errorf("B: %s %s: %d %s, want 403", r[0], r[1], st, body)
		}
	}
	if st, _ := tn.b.as(tn.B, "GET", "/v1/projects", nil, nil); st != http.StatusOK {
		t.Fatalf("B's key before: %d", st)
	}

	if st, body := tn.b.as(tn.A, "POST", "/v1/users/"+bID+"/disable", nil, nil); st != http.StatusOK {
		t.Fatalf("A disables B: %d %s", st, body)
	}
	if st, body := tn.b.as(tn.B, "GET", "/v1/projects", nil, nil); st != http.StatusUnauthorized || !strings.Contains(body, "This account is disabled.") {
		t.Fatalf("B's key after: %d %s, want 401 saying the account is disabled", st, body)
	}
	var got shopProject
	if st, body := tn.b.as(tn.A, "GET", "/v1/projects/"+p.ID, nil, &got); st != http.StatusOK || got.Name != "shop" {
		t.Fatalf("A's project after: %d %s", st, body)
	}
}
