package main

import (
	"strings"
	"testing"

	"github.com/haraft/haraft/proto/adminpb"
)

// Under the backends table, each node's reason for a server it sees down.
func TestDownReasons(t *testing.T) {
	bs := []*adminpb.Backend{{Name: "redis", Servers: []*adminpb.Server{
		{Name: "r1", Views: []*adminpb.NodeView{
			{Node: "n1", Health: adminpb.Health_HEALTH_DOWN, Detail: `timeout at step 2: expect string "+PONG" not found in 10 bytes ("-LOADING\r\n")`},
			{Node: "n2", Health: adminpb.Health_HEALTH_UP, Detail: "check passed"},
		}},
		{Name: "r2", Views: []*adminpb.NodeView{{Node: "n1", Health: adminpb.Health_HEALTH_DOWN, Detail: "dial tcp 127.0.0.1:6381: connect: connection refused"}}},
		{Name: "r3", Views: []*adminpb.NodeView{{Node: "n1", Health: adminpb.Health_HEALTH_UP}}},
	}}}
	var b strings.Builder
	if err := downReasons(&b, bs); err != nil {
		t.Fatal(err)
	}
	want := `redis/r1 down on n1: timeout at step 2: expect string "+PONG" not found in 10 bytes ("-LOADING\r\n")
redis/r2 down on n1: dial tcp 127.0.0.1:6381: connect: connection refused
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
