package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haraft/haraft/eipmover/r53emu"
)

// -check asks Route 53 about the route53 section when it can: a zone that
// does not exist or a name outside it fails the check at its line; a
// Route 53 it cannot reach is a warning.
func TestCheckRoute53(t *testing.T) {
	awsTestEnv(t, "AKIDCHECK", "check-secret")
	emu := r53emu.New(r53emu.Options{Credentials: []r53emu.Credentials{{AccessKeyID: "AKIDCHECK", SecretAccessKey: "check-secret"}}})
	zone, err := emu.CreateHostedZone("example.com")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	closed := "http://" + freeAddr(t) // nothing listens there

	base := `node: {id: n1, data_dir: /tmp/n1}
raft: {bind: 127.0.0.1:7001, peers: [{id: n1, addr: 127.0.0.1:7001}]}
http: {addr: 127.0.0.1:9101}
frontends: [{name: web, bind: 127.0.0.1:8001, backend: app}]
backends: [{name: app, servers: [{name: A, addr: 127.0.0.1:9001}]}]
eips: [{id: eipalloc-0web, address: 198.51.100.7, home_az: default}]
eip_mover: {kind: none}
route53:
`
	for _, tc := range []struct {
		name, zone, record, endpoint string
		wantCode                     int
		want                         string
	}{
		{"ok", zone, "lb.example.com", srv.URL, 0, "c.yaml: ok"},
		{"no such zone", "ZNOSUCHZONE", "lb.example.com", srv.URL, 1, "c.yaml:9: route53.hosted_zone_id: route53: hosted zone ZNOSUCHZONE does not exist"},
		{"name outside the zone", zone, "lb.example.org", srv.URL, 1, "c.yaml:10: route53.name: route53: record lb.example.org. is outside hosted zone " + zone},
		{"unreachable", zone, "lb.example.com", closed, 0, "warning: c.yaml:8: route53: could not check the hosted zone with Route 53"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, all := runCheck(t, base+fmt.Sprintf("  hosted_zone_id: %s\n  name: %s\n  endpoint: %s\n", tc.zone, tc.record, tc.endpoint))
			if code != tc.wantCode || !strings.Contains(all, tc.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q", code, all, tc.wantCode, tc.want)
			}
		})
	}
}

// awsTestEnv gives the SDK's default chain these static credentials and
// no shared config or credentials file, for the test's duration.
func awsTestEnv(t *testing.T, accessKey, secret string) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
}

// runCheck runs haraftd -check on a config file c.yaml holding body and
// returns its exit code and output (stdout, then stderr), the file named
// c.yaml.
func runCheck(t *testing.T, body string) (int, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-check", "-config", cfg}, &out, &errb)
	return code, strings.ReplaceAll(out.String()+errb.String(), filepath.Dir(cfg)+"/", "")
}
