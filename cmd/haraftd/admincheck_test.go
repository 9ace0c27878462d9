package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPlaintextAdmin: haraftd -check refuses a plaintext admin API on
// an address that is not loopback, unless admin.insecure: true, which it
// then reports as a warning.
func TestCheckPlaintextAdmin(t *testing.T) {
	const base = `node: {id: n1, data_dir: /tmp/n1}
raft: {bind: 127.0.0.1:7001, peers: [{id: n1, addr: 127.0.0.1:7001}]}
http: {addr: 127.0.0.1:9101}
frontends: [{name: web, bind: 127.0.0.1:8001, backend: app}]
backends:
  - name: app
    servers: [{name: A, addr: 127.0.0.1:9001}]
admin:
`
	const tokens = "  tokens: [{name: ops, role: write, secret: 0123456789abcdef}]\n"
	const tls = "  tls: {cert_file: /etc/haraft/admin.pem, key_file: /etc/haraft/admin-key.pem}\n"
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		admin    string
		wantCode int
		want     string // in stdout+stderr
		not      string // not in stdout+stderr
	}{
		{"loopback, plaintext", "  addr: 127.0.0.1:9201\n" + tokens, 0, "ok", "warning"},
		{"localhost, plaintext", "  addr: localhost:9201\n" + tokens, 0, "ok", "warning"},
		{"network address, plaintext", "  addr: 10.0.1.10:9201\n" + tokens, 1, ".yaml:8: admin.tls: required: admin.addr \"10.0.1.10:9201\" is not a loopback address", ": ok"},
		{"all interfaces, plaintext", "  addr: 0.0.0.0:9201\n" + tokens, 1, "admin.tls: required", ": ok"},
		{"host name, plaintext", "  addr: admin.example.internal:9201\n" + tokens, 1, "admin.tls: required", ": ok"},
		{"network address, no tokens", "  addr: 10.0.1.10:9201\n", 1, "admin.tls: required", ": ok"},
		{"network address, insecure", "  addr: 10.0.1.10:9201\n  insecure: true\n" + tokens, 0,
			".yaml:10: admin.insecure: the admin API on 10.0.1.10:9201 speaks plaintext gRPC", ""},
		{"network address, TLS", "  addr: 10.0.1.10:9201\n" + tls + tokens, 0, "ok", "warning"},
		{"insecure and TLS", "  addr: 10.0.1.10:9201\n  insecure: true\n" + tls, 1, "admin.insecure: true contradicts admin.tls", ": ok"},
		{"insecure is a boolean", "  addr: 127.0.0.1:9201\n  insecure: maybe\n", 1, "admin.insecure", ": ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(base+tc.admin), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"-check", "-config", path}, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.wantCode || !strings.Contains(all, tc.want) || (tc.not != "" && strings.Contains(all, tc.not)) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q and not %q", code, all, tc.wantCode, tc.want, tc.not)
			}
		})
	}
}
