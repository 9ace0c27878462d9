package config

import (
	"strings"
	"testing"
)

const tcpCheckBase = `node: {id: n1, data_dir: /tmp/n1}
raft: {bind: 127.0.0.1:7001, peers: [{id: n1, addr: 127.0.0.1:7001}]}
http: {addr: 127.0.0.1:9101}
frontends: [{name: db, bind: 127.0.0.1:6379, backend: redis, mode: tcp}]
backends:
  - name: redis
    mode: tcp
    servers: [{name: A, addr: 127.0.0.1:9001}]
`

func TestTCPCheckSteps(t *testing.T) {
	c, err := Parse("c.yaml", []byte(tcpCheckBase+`    check:
      inter: 1s
      tcp_check:
        - expect: {string: "+OK"}
        - send: PING\r\n
        - send_binary: 2a310d0a
        - expect: {rstring: '^\+PONG\r?$'}
        - expect: {binary: 2B504F4E47}
`))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := c.Backends[0].Check.TCPCheckSteps()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.String()+"="+string(s.Data))
	}
	want := []string{`expect string "+OK"=+OK`, "send=PING\r\n", "send-binary=*1\r\n", `expect rstring "^\\+PONG\\r?$"=`, "expect binary 2b504f4e47=+PONG"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("steps\n%q\nwant\n%q", got, want)
	}

	// An HTTP backend takes none: its check is a connect or httpchk.
	http := strings.Replace(strings.Replace(tcpCheckBase, "mode: tcp}", "}", 1), "    mode: tcp\n", "", 1)
	bad := []struct{ base, yaml, want string }{
		{tcpCheckBase, "    check: {tcp_check: []}\n", "c.yaml:9: backends[0].check.tcp_check: no steps: list at least one"},
		{tcpCheckBase, "    check: {tcp_check: [{send: PING, expect: {string: x}}]}\n", "c.yaml:9: backends[0].check.tcp_check[0]: one action per step, got send and expect"},
		{tcpCheckBase, "    check: {tcp_check: [{}]}\n", "c.yaml:9: backends[0].check.tcp_check[0]: one of send, send_binary or expect is required"},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - send: PING\n        - expect: {rstring: '+PONG('}\n",
			"c.yaml:12: backends[0].check.tcp_check[1].expect.rstring: invalid regular expression: missing argument to repetition operator: `+`"},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - send_binary: 0g\n", `c.yaml:11: backends[0].check.tcp_check[0].send_binary: invalid hex: "g" at byte 1 is not a hex digit`},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - expect: {binary: abc}\n", "c.yaml:11: backends[0].check.tcp_check[0].expect.binary: invalid hex: odd length 3"},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - send: 'a\\q'\n", `c.yaml:11: backends[0].check.tcp_check[0].send: unknown escape "\\q" at byte 1`},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - expect: {}\n", "c.yaml:11: backends[0].check.tcp_check[0].expect: one of string, rstring or binary is required"},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - expect: {string: a, binary: '00'}\n", "c.yaml:11: backends[0].check.tcp_check[0].expect: one match per expect, got string and binary"},
		{tcpCheckBase, "    check:\n      tcp_check:\n        - expect: {strng: a}\n", "c.yaml:11: backends[0].check.tcp_check[0].expect.strng: unknown field"},
		{http, "    check: {tcp_check: [{send: PING}]}\n", "c.yaml:8: backends[0].check.tcp_check: only with mode tcp"},
	}
	for _, tc := range bad {
		_, err := Parse("c.yaml", []byte(tc.base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
