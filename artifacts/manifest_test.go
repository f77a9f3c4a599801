package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/model"
)

// TestGetManifestValidates: a manifest read back from the bucket is refused
// when a name is not a clean relative path, a hash is not 64 lowercase hex
// digits, or it is too large; a good one loads.
func TestGetManifestValidates(t *testing.T) {
	ctx := context.Background()
	b, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("0123456789abcdef", 4)
	entry := func(name, sha string) string {
		return fmt.Sprintf(`{"output_type":"static","files":{%q:{"size":1,"sha256":%q}}}`, name, sha)
	}
	put := func(t *testing.T, data string) {
		t.Helper()
		if err := b.Put(ctx, "d/"+model.ManifestName, strings.NewReader(data), int64(len(data)), "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, manifest string
		ok             bool
	}{
		{"good", entry("assets/app-BxYz12Ab.js", good), true},
		{"well-known", entry(".well-known/security.txt", good), true},
		{"hash with dots", entry("a.txt", "./../../secret.key"), false},
		{"64-byte traversal", entry("a.txt", "../"+strings.Repeat("./", 28)+"secret.key"), false},
		{"uppercase hash", entry("a.txt", strings.ToUpper(good)), false},
		{"short hash", entry("a.txt", good[:63]), false},
		{"dot dot", entry("../a.txt", good), false},
		{"inner dot dot", entry("a/../../b.txt", good), false},
		{"leading slash", entry("/a.txt", good), false},
		{"double slash", entry("a//b.txt", good), false},
		{"dot segment", entry("a/./b.txt", good), false},
		{"trailing slash", entry("a/", good), false},
		{"backslash", entry(`a\b.txt`, good), false},
		{"NUL", entry("a\x00.txt", good), false},
		{"empty name", entry("", good), false},
		{"not JSON", "{", false},
		{"negative size", `{"files":{"a.txt":{"size":-1,"sha256":"` + good + `"}}}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			put(t, tt.manifest)
			m, err := GetManifest(ctx, b, "d/")
			if tt.ok && (err != nil || len(m.Files) != 1) {
				t.Fatalf("good manifest refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("got %v, want ErrInvalidManifest", err)
			}
		})
	}

	t.Run("too many files", func(t *testing.T) {
		var buf bytes.Buffer
		buf.WriteString(`{"files":{`)
		for i := range MaxManifestFiles + 1 {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `"f%d":{"size":1,"sha256":"%s"}`, i, good)
		}
		buf.WriteString(`}}`)
		put(t, buf.String())
		if _, err := GetManifest(ctx, b, "d/"); !errors.Is(err, ErrInvalidManifest) {
			t.Fatalf("got %v, want ErrInvalidManifest", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		put(t, `{"output_type":"`+strings.Repeat("x", MaxManifestBytes)+`"}`)
		if _, err := GetManifest(ctx, b, "d/"); !errors.Is(err, ErrInvalidManifest) {
			t.Fatalf("got %v, want ErrInvalidManifest", err)
		}
	})
}
