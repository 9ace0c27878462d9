package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLog: the daemon's own log section (log.format, log.level).
func TestLog(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		json       bool
		debug      bool
		want       string
	}{
		{name: "default: text, info", yaml: base},
		{name: "json, debug", yaml: base + "log: {format: json, level: debug}\n", json: true, debug: true},
		{name: "text, warn", yaml: base + "log:\n  format: text\n  level: warn\n"},
		{name: "bad format", yaml: base + "log: {format: logfmt}\n", want: `t.yaml:25: log.format: want text or json, got "logfmt"`},
		{name: "bad level", yaml: base + "log: {level: verbose}\n", want: `t.yaml:25: log.level: want debug, info, warn or error, got "verbose"`},
		{name: "unknown field", yaml: base + "log: {target: stdout}\n", want: `t.yaml:25: log.target: unknown field (known: format, level)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml))
			if tc.want != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			h, err := c.Log.Handler(&buf, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Enabled(t.Context(), -4); got != tc.debug {
				t.Fatalf("debug enabled %v, want %v", got, tc.debug)
			}
			h2, _ := c.Log.Handler(&buf, "error") // the -log-level flag wins
			if h2.Enabled(t.Context(), 0) {
				t.Fatal("-log-level error still logs info")
			}
			if err := h.Handle(t.Context(), testRecord()); err != nil {
				t.Fatal(err)
			}
			if isJSON := json.Valid(bytes.TrimSpace(buf.Bytes())); isJSON != tc.json {
				t.Fatalf("line %q: JSON %v, want %v", buf.String(), isJSON, tc.json)
			}
		})
	}
}

func testRecord() slog.Record {
	return slog.NewRecord(time.Now(), slog.LevelWarn, "hello", 0)
}
