package config

import (
	"strings"
	"testing"
)

func TestReloadErrors(t *testing.T) {
	cur, err := Parse("c.yaml", []byte(checkBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
		want           string // "" = can be applied live
	}{
		{name: "server weight", old: "{name: A, addr: 127.0.0.1:9001}", new: "{name: A, addr: 127.0.0.1:9001, weight: 5}"},
		{name: "server added", old: "{name: A, addr: 127.0.0.1:9001}", new: "{name: A, addr: 127.0.0.1:9001}, {name: B, addr: 127.0.0.1:9002}"},
		{name: "frontend rebound", old: "bind: 127.0.0.1:8001", new: "bind: 127.0.0.1:8002"},
		{name: "timeouts", old: "frontends:", new: "timeouts: {server: 5s}\nfrontends:"},
		{name: "node id", old: "node: {id: n1, data_dir: /tmp/n1}\nraft: {bind: 127.0.0.1:7001, peers: [{id: n1,", new: "node: {id: n2, data_dir: /tmp/n1}\nraft: {bind: 127.0.0.1:7001, peers: [{id: n2,", want: "c.yaml:1: node.id: cannot change while the node runs (was \"n1\")"},
		{name: "data dir", old: "data_dir: /tmp/n1", new: "data_dir: /tmp/x", want: "c.yaml:1: node.data_dir: cannot change while the node runs (was \"/tmp/n1\")"},
		{name: "raft bind", old: "raft: {bind: 127.0.0.1:7001,", new: "raft: {bind: 127.0.0.1:7005, advertise: 127.0.0.1:7001,", want: "c.yaml:2: raft.bind: cannot change"},
		{name: "ops listener", old: "127.0.0.1:9101", new: "127.0.0.1:9102", want: "c.yaml:3: http.addr: cannot change"},
		{name: "global maxconn", old: "frontends:", new: "global: {maxconn: 10}\nfrontends:", want: "c.yaml:4: global.maxconn: cannot change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(checkBase, tc.old, tc.new, 1)
			if text == checkBase {
				t.Fatal("the edit changed nothing")
			}
			next, err := Parse("c.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			err = cur.ReloadErrors(next)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if err := cur.ReloadErrors(cur); err != nil {
		t.Errorf("the same config: %v", err)
	}
}
