package config

import (
	"strings"
	"testing"
)

// TestMaxConn: global.maxconn and frontends[].maxconn, HAProxy's maxconn
// of the global section and of a frontend.
func TestMaxConn(t *testing.T) {
	withFrontendMaxConn := func(t *testing.T, n string) string {
		return edit(t, "    backend: app", "    backend: app\n    maxconn: "+n) // frontends[0].maxconn at line 17
	}
	for _, tc := range []struct {
		name             string
		yaml             func(t *testing.T) string
		global, frontend int
		want             []string // errors; none: valid
	}{
		{name: "defaults", yaml: func(t *testing.T) string { return base }},
		{name: "global", yaml: func(t *testing.T) string { return base + "global: {maxconn: 20000}\n" }, global: 20000},
		{name: "frontend", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, "500") }, frontend: 500},
		{name: "both", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, "500") + "global:\n  maxconn: 500\n" },
			global: 500, frontend: 500},
		{name: "frontend above default global", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, "1000000") },
			frontend: 1000000}, // the derived global one is known at start only
		{name: "negative global", yaml: func(t *testing.T) string { return base + "global: {maxconn: -1}\n" },
			want: []string{`t.yaml:25: global.maxconn: must be 0 (derived from the file descriptor limit) or positive, got -1`}},
		{name: "negative frontend", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, "-5") },
			want: []string{`t.yaml:17: frontends[0].maxconn: must be 0 (global.maxconn only) or positive, got -5`}},
		{name: "frontend above global", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, "5000") + "global:\n  maxconn: 4000\n" },
			want: []string{`t.yaml:17: frontends[0].maxconn: 5000 exceeds global.maxconn 4000, which would cap it (lower it, or raise global.maxconn)`}},
		{name: "not an integer", yaml: func(t *testing.T) string { return base + "global: {maxconn: lots}\n" },
			want: []string{`t.yaml:25: global.maxconn: invalid integer "lots"`}},
		{name: "quoted", yaml: func(t *testing.T) string { return withFrontendMaxConn(t, `"10"`) },
			want: []string{`t.yaml:17: frontends[0].maxconn: expected an integer, got the quoted string "10"`}},
		{name: "unknown global field", yaml: func(t *testing.T) string { return base + "global: {nbthread: 4}\n" },
			want: []string{`t.yaml:25: global.nbthread: unknown field (known: maxconn)`}},
		{name: "global not a mapping", yaml: func(t *testing.T) string { return base + "global: 100\n" },
			want: []string{`t.yaml:25: global: expected a mapping, got "100"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml(t)))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Global.MaxConn != tc.global || c.Frontends[0].MaxConn != tc.frontend {
					t.Fatalf("global.maxconn %d, frontends[0].maxconn %d; want %d, %d", c.Global.MaxConn, c.Frontends[0].MaxConn, tc.global, tc.frontend)
				}
				return
			}
			if err == nil {
				t.Fatalf("parsed; want %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestMaxConnInCode: a config built in code is validated alike.
func TestMaxConnInCode(t *testing.T) {
	c, err := Parse("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	c.lines = nil
	c.Global.MaxConn = 10
	c.Frontends[0].MaxConn = 11
	err = c.Validate()
	if err == nil || err.Error() != "t.yaml: frontends[0].maxconn: 11 exceeds global.maxconn 10, which would cap it (lower it, or raise global.maxconn)" {
		t.Fatalf("got %v", err)
	}
}
