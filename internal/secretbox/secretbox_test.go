package secretbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func newBox(t *testing.T) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := newBox(t)
	aad := []byte("project\x00KEY")
	for _, plain := range [][]byte{[]byte("s3cret value"), {}, bytes.Repeat([]byte("x"), 64<<10)} {
		sealed := b.Seal(plain, aad)
		if len(plain) > 0 && bytes.Contains(sealed, plain) {
			t.Error("sealed value contains the plaintext")
		}
		got, err := b.Open(sealed, aad)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("round trip of %d bytes gave %d bytes", len(plain), len(got))
		}
	}
	// A fresh nonce each time: sealing twice gives different bytes.
	if bytes.Equal(b.Seal([]byte("v"), aad), b.Seal([]byte("v"), aad)) {
		t.Error("two seals of the same value are identical")
	}
}

func TestOpenRejects(t *testing.T) {
	b := newBox(t)
	aad := []byte("p1\x00KEY")
	sealed := b.Seal([]byte("value"), aad)
	other, err := New(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		aad    []byte
	}{
		{"wrong aad", b, sealed, []byte("p2\x00KEY")},
		{"no aad", b, sealed, nil},
		{"wrong key", other, sealed, aad},
		{"truncated", b, sealed[:len(sealed)-1], aad},
		{"too short", b, sealed[:5], aad},
		{"empty", b, nil, aad},
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		tests = append(tests, struct {
			name   string
			box    *Box
			sealed []byte
			aad    []byte
		}{"byte flipped", b, tampered, aad})
	}
	for _, tt := range tests {
		if got, err := tt.box.Open(tt.sealed, tt.aad); err == nil {
			t.Errorf("%s: opened to %q, want an error", tt.name, got)
		}
	}
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(key))
	}
	if bytes.Equal(key, make([]byte, 32)) {
		t.Error("key is all zeros")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file mode %v size %d, want 0600 and 32", fi.Mode().Perm(), fi.Size())
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, key) {
		t.Error("file content differs from the returned key")
	}

	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, key) {
		t.Error("second load returned a different key")
	}
	// A value sealed under the first load opens under the second.
	b1, _ := New(key)
	b2, _ := New(again)
	if _, err := b2.Open(b1.Seal([]byte("v"), nil), nil); err != nil {
		t.Errorf("value sealed before a restart does not open after: %v", err)
	}

	other, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, key) {
		t.Error("two new keys are equal")
	}
}

func TestLoadOrCreateKeyRejectsBadFile(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(short); err == nil {
		t.Error("accepted a 9-byte key file")
	}
	if data, _ := os.ReadFile(short); string(data) != "too short" {
		t.Error("a bad key file was overwritten")
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing", "secret.key")); err == nil {
		t.Error("created a key in a directory that does not exist")
	}
}

func TestDerive(t *testing.T) {
	b := newBox(t)
	k1, err := b.Derive("next-server-actions/p1", 32)
	if err != nil || len(k1) != 32 {
		t.Fatalf("Derive: %d bytes, %v", len(k1), err)
	}
	again, _ := b.Derive("next-server-actions/p1", 32)
	other, _ := b.Derive("next-server-actions/p2", 32)
	if string(again) != string(k1) {
		t.Fatal("the same purpose gave two keys")
	}
	if string(other) == string(k1) {
		t.Fatal("two purposes gave the same key")
	}
	b2, err := New(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := b2.Derive("next-server-actions/p1", 32); string(k) == string(k1) {
		t.Fatal("two master keys gave the same derived key")
	}
}
