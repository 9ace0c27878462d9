package config

import (
	"strings"
	"testing"
	"time"
)

const checkBase = `node: {id: n1, data_dir: /tmp/n1}
raft: {bind: 127.0.0.1:7001, peers: [{id: n1, addr: 127.0.0.1:7001}]}
http: {addr: 127.0.0.1:9101}
frontends: [{name: web, bind: 127.0.0.1:8001, backend: app}]
backends:
  - name: app
    servers: [{name: A, addr: 127.0.0.1:9001}]
`

func TestCheckSection(t *testing.T) {
	c, err := Parse("c.yaml", []byte(checkBase+"    check: {inter: 500ms, rise: 1, httpchk: {uri: /health, expect_status: 204}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ck := c.Backends[0].Check
	want := Check{Inter: Duration{500 * time.Millisecond}, FastInter: Duration{500 * time.Millisecond}, DownInter: Duration{500 * time.Millisecond},
		Timeout: Duration{500 * time.Millisecond}, Rise: 1, Fall: 3}
	if ck == nil || ck.Inter != want.Inter || ck.FastInter != want.FastInter || ck.DownInter != want.DownInter || ck.Timeout != want.Timeout || ck.Rise != 1 || ck.Fall != 3 {
		t.Fatalf("check = %+v", ck)
	}
	if h := ck.HTTPChk; h == nil || h.Method != "GET" || h.URI != "/health" || h.ExpectStatus != 204 {
		t.Fatalf("httpchk = %+v", h)
	}
	if c, err := Parse("c.yaml", []byte(checkBase)); err != nil || c.Backends[0].Check != nil {
		t.Fatalf("no check section: %v %+v", err, c)
	}

	bad := []struct{ yaml, want string }{
		{"    check: {rise: 0}\n", "c.yaml:8: backends[0].check.rise: must be 1..100"},
		{"    check: {inter: 1s, timeout: 2s}\n", "c.yaml:8: backends[0].check.timeout: 2s is longer than inter 1s"},
		{"    check: {httpchk: {uri: health}}\n", "c.yaml:8: backends[0].check.httpchk.uri: must be an absolute path"},
		{"    check: {httpchk: {expect_status: 42}}\n", "c.yaml:8: backends[0].check.httpchk.expect_status"},
		{"    check: {intr: 1s}\n", "c.yaml:8: backends[0].check.intr: unknown field"},
		{"    check: {agree_down: -1}\n", "c.yaml:8: backends[0].check.agree_down"},
	}
	for _, tc := range bad {
		_, err := Parse("c.yaml", []byte(checkBase+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
