package config

import (
	"strings"
	"testing"

	"github.com/haraft/haraft/proxy/accesslog"
)

// TestAccessLog: access_log (target, format, facility, tag, queue) and
// frontends[].access_log.
func TestAccessLog(t *testing.T) {
	frontendOff := func(t *testing.T, v string) string {
		return edit(t, "    backend: app", "    backend: app\n    access_log: "+v) // frontends[0].access_log at line 17
	}
	for _, tc := range []struct {
		name string
		yaml func(t *testing.T) string
		opts accesslog.Options // when valid and on
		off  bool
		want []string
	}{
		{name: "default: stdout, httplog", yaml: func(*testing.T) string { return base },
			opts: accesslog.Options{Target: accesslog.Target{Kind: accesslog.TargetStdout}, Facility: 16}},
		{name: "file, json", yaml: func(*testing.T) string {
			return base + "access_log: {target: file:/var/log/haraft/access.log, format: json}\n"
		}, opts: accesslog.Options{Target: accesslog.Target{Kind: accesslog.TargetFile, Path: "/var/log/haraft/access.log"}, Format: accesslog.FormatJSON, Facility: 16}},
		{name: "syslog udp", yaml: func(*testing.T) string {
			return base + "access_log:\n  target: udp://127.0.0.1:514\n  facility: local3\n  tag: edge\n  queue: 100\n"
		}, opts: accesslog.Options{Target: accesslog.Target{Kind: accesslog.TargetUDP, Addr: "127.0.0.1:514"}, Facility: 19, Tag: "edge", Queue: 100}},
		{name: "off", yaml: func(*testing.T) string { return base + "access_log: {target: off}\n" }, off: true},
		{name: "frontend off", yaml: func(t *testing.T) string { return frontendOff(t, "off") },
			opts: accesslog.Options{Target: accesslog.Target{Kind: accesslog.TargetStdout}, Facility: 16}},
		{name: "bad target", yaml: func(*testing.T) string { return base + "access_log: {target: tcp://127.0.0.1:514}\n" },
			want: []string{`t.yaml:25: access_log.target: log target "tcp://127.0.0.1:514": want stdout`}},
		{name: "bad format", yaml: func(*testing.T) string { return base + "access_log: {format: clf}\n" },
			want: []string{`t.yaml:25: access_log.format: want httplog or json, got "clf"`}},
		{name: "bad facility", yaml: func(*testing.T) string { return base + "access_log: {facility: local9}\n" },
			want: []string{`t.yaml:25: access_log.facility: unknown syslog facility "local9"`}},
		{name: "bad tag", yaml: func(*testing.T) string { return base + "access_log: {tag: \"a b\"}\n" },
			want: []string{`t.yaml:25: access_log.tag: printable ASCII without spaces only`}},
		{name: "negative queue", yaml: func(*testing.T) string { return base + "access_log: {queue: -1}\n" },
			want: []string{`t.yaml:25: access_log.queue: must be 0 (default 8192) or positive, got -1`}},
		{name: "unknown field", yaml: func(*testing.T) string { return base + "access_log: {path: /x}\n" },
			want: []string{`t.yaml:25: access_log.path: unknown field (known: target, format, facility, tag, queue)`}},
		{name: "bad frontend switch", yaml: func(t *testing.T) string { return frontendOff(t, "maybe") },
			want: []string{`t.yaml:17: frontends[0].access_log: want on or off, got "maybe"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml(t)))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.AccessLog.Off() != tc.off {
					t.Fatalf("off %v", c.AccessLog.Off())
				}
				if tc.off {
					return
				}
				o, err := c.AccessLog.Options()
				if err != nil || o != tc.opts {
					t.Fatalf("options %+v, %v; want %+v", o, err, tc.opts)
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
