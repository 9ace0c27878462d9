package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-04T20:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"haraftd v1.2.3 rev abc123 2026-12-04T20:00:00Z go1.26.8"},
		{"dirty tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			"haraftd (devel) rev abc123 modified go1.26.8"},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"}, "haraftd (devel) go1.26.8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := format("haraftd", &tc.bi); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStringOfTestBinary(t *testing.T) {
	got := String("x")
	if !strings.HasPrefix(got, "x ") || !strings.Contains(got, "go1.") {
		t.Fatalf("String = %q, want program name and Go version", got)
	}
}
