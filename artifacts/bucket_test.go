package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// testBucket is the conformance suite every Bucket implementation must pass. Subtests run in
// parallel on the one store, each under its own key prefix.
func testBucket(t *testing.T, s Bucket) {
	tests := []struct {
		name string
		fn   func(*testing.T, Bucket)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"ShortBody", testShortBody},
		{"InvalidKeys", testInvalidKeys},
		{"ListOrder", testListOrder},
		{"ListManyPages", testListManyPages},
		{"DeletePrefix", testDeletePrefix},
		{"Cancelled", testCancelled},
		{"UploadDir", testUploadDir},
		{"UploadDirParallelLimit", testUploadDirParallelLimit},
		{"UploadDirCancel", testUploadDirCancel},
		{"Ping", func(t *testing.T, s Bucket) {
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

func put(t *testing.T, s Bucket, key, body string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func get(t *testing.T, s Bucket, key string) (string, Object) {
	t.Helper()
	rc, obj, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b), obj
}

// listKeys returns the keys under prefix in the order List gave them.
func listKeys(t *testing.T, s Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(t.Context(), prefix, func(o Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return keys
}

func testRoundTrip(t *testing.T, s Bucket) {
	start := time.Now().Add(-time.Minute)
	put(t, s, "rt/dir/hello.txt", "hello, world")
	body, obj := get(t, s, "rt/dir/hello.txt")
	if body != "hello, world" || obj.Key != "rt/dir/hello.txt" || obj.Size != 12 || obj.ModTime.Before(start) {
		t.Errorf("Get = %q, %+v", body, obj)
	}
	st, err := s.Stat(t.Context(), "rt/dir/hello.txt")
	if err != nil || st.Key != obj.Key || st.Size != 12 || !st.ModTime.Equal(obj.ModTime) {
		t.Errorf("Stat = %+v, %v; Get said %+v", st, err, obj)
	}

	put(t, s, "rt/dir/hello.txt", "replaced")
	if body, _ := get(t, s, "rt/dir/hello.txt"); body != "replaced" {
		t.Errorf("after overwrite Get = %q", body)
	}

	put(t, s, "rt/empty", "")
	if body, obj := get(t, s, "rt/empty"); body != "" || obj.Size != 0 {
		t.Errorf("empty object: %q, %+v", body, obj)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640 KB of unknown size
	if err := s.Put(t.Context(), "rt/unknown-size", io.MultiReader(bytes.NewReader(big)), -1, "application/octet-stream"); err != nil {
		t.Fatalf("Put size -1: %v", err)
	}
	if body, obj := get(t, s, "rt/unknown-size"); body != string(big) || obj.Size != int64(len(big)) {
		t.Errorf("size -1 object: %d bytes, %+v", len(body), obj)
	}
}

func testNotFound(t *testing.T, s Bucket) {
	put(t, s, "nf/dir/file", "x")
	for _, key := range []string{"nf/missing", "nf/dir", "nf/dir/file/below", "nf/di"} {
		if _, _, err := s.Get(t.Context(), key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get %s: err = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat %s: err = %v, want ErrNotFound", key, err)
		}
	}
	if keys := listKeys(t, s, "nf/nothing/"); len(keys) != 0 {
		t.Errorf("List of an empty prefix = %q", keys)
	}
}

// testShortBody: a reader that ends before size must fail the Put and leave no object.
func testShortBody(t *testing.T, s Bucket) {
	err := s.Put(t.Context(), "short/obj", strings.NewReader("12345"), 10, "text/plain")
	if err == nil {
		t.Fatal("Put with a short body succeeded")
	}
	if _, err := s.Stat(t.Context(), "short/obj"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after failed Put: %v, want ErrNotFound", err)
	}
}

func testInvalidKeys(t *testing.T, s Bucket) {
	for _, key := range []string{"", "../escape", "inv/../../escape", "/abs", "inv//x", `inv\x`, "inv/", "./inv", "inv/./x", "inv/.berth-tmp-1"} {
		if err := s.Put(t.Context(), key, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put %q: err = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Get(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get %q: err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Stat %q: err = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"../", "inv/../", "/inv", "inv//", `inv\`} {
		if err := s.List(t.Context(), prefix, func(Object) error { return nil }); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List %q: err = %v, want ErrInvalidKey", prefix, err)
		}
		if err := s.DeletePrefix(t.Context(), prefix); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("DeletePrefix %q: err = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if err := s.DeletePrefix(t.Context(), ""); err == nil {
		t.Error("DeletePrefix of the empty prefix succeeded")
	}
}

// testListOrder: keys come in byte order, as S3 sorts them ('-' < '/' < '0'), and a
// prefix is a raw string prefix, not a directory.
func testListOrder(t *testing.T, s Bucket) {
	for _, k := range []string{"order/a0", "order/a/b", "order/a-b", "order/b", "order/a/a/z", "orderx/c"} {
		put(t, s, k, k)
	}
	want := []string{"order/a-b", "order/a/a/z", "order/a/b", "order/a0", "order/b"}
	if got := listKeys(t, s, "order/"); !slices.Equal(got, want) {
		t.Errorf("List order/ = %q, want %q", got, want)
	}
	if got := listKeys(t, s, "order/a"); !slices.Equal(got, want[:4]) {
		t.Errorf("List order/a = %q, want %q", got, want[:4])
	}
	if got := listKeys(t, s, "order/a/"); !slices.Equal(got, want[1:3]) {
		t.Errorf("List order/a/ = %q, want %q", got, want[1:3])
	}
}

// testListManyPages lists more keys than one S3 page (1000) holds, then deletes them all,
// which also takes more than one S3 batch delete.
func testListManyPages(t *testing.T, s Bucket) {
	const n = 1205
	var want []string
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(16)
	for i := range n {
		key := fmt.Sprintf("many/p/%d/%04d.txt", i%3, i)
		want = append(want, key)
		g.Go(func() error { return s.Put(ctx, key, strings.NewReader(key), int64(len(key)), "text/plain") })
	}
	for _, k := range []string{"many/p-sibling", "many/px/x", "many/q/y"} {
		g.Go(func() error { return s.Put(ctx, k, strings.NewReader("x"), 1, "text/plain") })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("Put: %v", err)
	}
	slices.Sort(want)

	var got []string
	err := s.List(t.Context(), "many/p/", func(o Object) error {
		if o.Size != int64(len(o.Key)) {
			return fmt.Errorf("%s: size %d, want %d", o.Key, o.Size, len(o.Key))
		}
		got = append(got, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != n || !slices.Equal(got, want) {
		t.Fatalf("List gave %d keys, want %d in order (first %q)", len(got), n, got[:min(3, len(got))])
	}

	// fn's error stops the listing in the second page and comes back as it is.
	stop := errors.New("stop here")
	calls := 0
	err = s.List(t.Context(), "many/p/", func(Object) error {
		if calls++; calls == 1100 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 1100 {
		t.Errorf("List stopped by fn: err = %v after %d calls, want %v after 1100", err, calls, stop)
	}

	if err := s.DeletePrefix(t.Context(), "many/p/"); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	if got := listKeys(t, s, "many/p/"); len(got) != 0 {
		t.Errorf("%d keys left after DeletePrefix, first %q", len(got), got[0])
	}
	if got := listKeys(t, s, "many/"); !slices.Equal(got, []string{"many/p-sibling", "many/px/x", "many/q/y"}) {
		t.Errorf("siblings after DeletePrefix = %q", got)
	}
}

func testDeletePrefix(t *testing.T, s Bucket) {
	for _, k := range []string{"del/a/1", "del/a/2/3", "del/ab/4", "del/b/5", "del/c"} {
		put(t, s, k, k)
	}
	steps := []struct {
		prefix string
		left   []string
	}{
		{"del/a/", []string{"del/ab/4", "del/b/5", "del/c"}},
		{"del/nothing/", []string{"del/ab/4", "del/b/5", "del/c"}},
		{"del/a", []string{"del/b/5", "del/c"}},
		{"del/c", []string{"del/b/5"}},
	}
	for _, st := range steps {
		if err := s.DeletePrefix(t.Context(), st.prefix); err != nil {
			t.Fatalf("DeletePrefix %q: %v", st.prefix, err)
		}
		if got := listKeys(t, s, "del/"); !slices.Equal(got, st.left) {
			t.Errorf("after DeletePrefix %q: %q, want %q", st.prefix, got, st.left)
		}
	}
	if _, err := s.Stat(t.Context(), "del/a/1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat deleted key: %v, want ErrNotFound", err)
	}
}

func testCancelled(t *testing.T, s Bucket) {
	put(t, s, "cancel/exists", "x")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx: err = %v, want context.Canceled", op, err)
		}
	}
	check("Put", s.Put(ctx, "cancel/new", strings.NewReader("x"), 1, "text/plain"))
	_, _, err := s.Get(ctx, "cancel/exists")
	check("Get", err)
	_, err = s.Stat(ctx, "cancel/exists")
	check("Stat", err)
	check("List", s.List(ctx, "cancel/", func(Object) error { return nil }))
	check("DeletePrefix", s.DeletePrefix(ctx, "cancel/"))
	if _, err := s.Stat(t.Context(), "cancel/new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelled Put left an object: %v", err)
	}
	if _, err := s.Stat(t.Context(), "cancel/exists"); err != nil {
		t.Errorf("cancelled DeletePrefix deleted: %v", err)
	}
}
