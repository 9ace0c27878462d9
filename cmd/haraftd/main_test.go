package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckAndBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("node:\n  id: n1\n  data_dir: /tmp/x\n  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout+stderr
	}{
		{"example passes -check", []string{"-check", "-config", "../../examples/cluster/node1.yaml"}, 0, "node1.yaml: ok"},
		{"unknown field", []string{"-check", "-config", bad}, 1, bad + ":4: node.colour: unknown field"},
		{"missing file", []string{"-config", filepath.Join(dir, "nope.yaml")}, 1, "nope.yaml"},
		{"no flags", nil, 2, "usage: haraftd"},
		{"bad flag", []string{"-bogus"}, 2, "flag provided but not defined"},
		{"version", []string{"-version"}, 0, "haraftd "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.wantCode || !strings.Contains(all, tc.wantOut) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q", code, all, tc.wantCode, tc.wantOut)
			}
		})
	}
}
