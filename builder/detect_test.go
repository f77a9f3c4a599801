package builder

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
)

// TestDetectOutput lays out build results in a real container and detects
// them on the STOPPED container, as a build does.
func TestDetectOutput(t *testing.T) {
	image := buildImage(t)
	sb, err := sandbox.New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	labels := testLabels(t, sb)
	tests := []struct {
		name      string
		script    string
		outputDir string
		wantDir   string
		wantType  string
		wantErr   string
	}{
		{"vite dist", "mkdir -p dist public && touch dist/index.html", "", "/workspace/dist", model.OutputStatic, ""},
		{"output_dir wins", "mkdir -p dist site && touch site/index.html", "site", "/workspace/site", model.OutputStatic, ""},
		{"missing output_dir", "mkdir -p dist", "site", "", "", `"site" does not exist`},
		{"next standalone", "mkdir -p .next/standalone public && touch .next/standalone/server.js", "", "/workspace", model.OutputNextStandalone, ""},
		{"next export", "mkdir -p .next out && touch out/index.html", "", "/workspace/out", model.OutputNextExport, ""},
		{"next start only", "mkdir -p .next/server public", "", "", "", "output: 'standalone'"},
		{"plain site", "touch index.html", "", "/workspace", model.OutputStatic, ""},
		{"nothing", "touch README.md", "", "", "", "no build output found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := sb.Run(context.Background(), sandbox.Spec{
				Image: image, Cmd: []string{"sh", "-c", "mkdir -p /workspace && cd /workspace && " + tt.script},
				Labels: labels,
			}, nil)
			if res.ContainerID != "" {
				defer sb.Remove(context.Background(), res.ContainerID)
			}
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("prepare container: %v (exit %d)", err, res.ExitCode)
			}
			out, err := detectOutput(context.Background(), sb, res.ContainerID, "/workspace", tt.outputDir, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || out.Dir != tt.wantDir || out.Type != tt.wantType {
				t.Fatalf("got %+v, %v; want %s (%s)", out, err, tt.wantDir, tt.wantType)
			}
		})
	}
}
