package admin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grpcurlVersion is the grpcurl module the test builds.
const grpcurlVersion = "v1.9.4"

// grpcurl builds grpcurl from the Go module proxy (or the module cache),
// or skips when it cannot be built here.
func grpcurl(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building grpcurl")
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	cmd.Dir = bin // outside this module: install the module's own pinned dependencies
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build grpcurl %s (no module proxy or cache here?): %v\n%s", grpcurlVersion, err, out)
	}
	return filepath.Join(bin, "grpcurl")
}

// TestGrpcurlThroughReflection lists, describes and calls the admin
// service with grpcurl, which knows nothing of proto/admin.proto: it learns
// the service through server reflection, over mutual TLS with a token.
func TestGrpcurlThroughReflection(t *testing.T) {
	bin := grpcurl(t)
	c := startDev(t)
	sec := c.Security
	addr := c.Nodes[1].AdminAddr()
	tlsArgs := []string{"-cacert", sec.TLS.CA, "-cert", sec.TLS.Client.Cert, "-key", sec.TLS.Client.Key}
	auth := func(tok string) []string { return []string{"-H", "authorization: Bearer " + tok} }
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, bin, append(tlsArgs, args...)...).CombinedOutput()
	}
	write := append(auth(sec.WriteToken), "-d", `{"backend":"app","server":"B","admin":"ADMIN_MAINT"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A write runs on the leader: a follower names the leader's admin
	// address (and its id) in the error's details ...
	for try := 0; ; try++ {
		li := leaderIndex(t, c)
		out, err := run(ctx, append(write, c.Nodes[(li+1)%3].AdminAddr(), "haraft.admin.v1.Admin/SetServerAdmin")...)
		if strings.Contains(string(out), "NOT_LEADER") && strings.Contains(string(out), `"leader_admin_addr": "127.0.0.1:`) {
			break
		}
		if try == 10 {
			t.Fatalf("a write on a follower: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// ... where it is applied.
	for try := 0; ; try++ {
		out, err := run(ctx, append(write, c.Nodes[leaderIndex(t, c)].AdminAddr(), "haraft.admin.v1.Admin/SetServerAdmin")...)
		if err == nil && strings.Contains(string(out), `"admin": "ADMIN_MAINT"`) && strings.Contains(string(out), `"name": "B"`) {
			break
		}
		if try == 10 {
			t.Fatalf("a write on the leader: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond) // leadership moved meanwhile
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{"list services", append(auth(sec.ReadToken), addr, "list"), false,
			[]string{"haraft.admin.v1.Admin", "grpc.reflection.v1.ServerReflection"}},
		{"describe the service", append(auth(sec.ReadToken), addr, "describe", "haraft.admin.v1.Admin"), false,
			[]string{"rpc Status", "rpc Watch", "stream .haraft.admin.v1.Event", "rpc SnapshotRestore"}},
		{"call status", append(auth(sec.ReadToken), addr, "haraft.admin.v1.Admin/Status"), false,
			[]string{`"nodeId": "n2"`, `"raftAddr"`, `"ready": true`}},
		{"write with a read token is refused", append(auth(sec.ReadToken), "-d", `{"backend":"app","server":"B"}`, addr, "haraft.admin.v1.Admin/SetServerAdmin"), true,
			[]string{"PermissionDenied", "read-only"}},
		{"reflection without a token is refused", []string{addr, "list"}, true,
			[]string{"Unauthenticated"}},
		{"actionable error", append(auth(sec.ReadToken), "-d", `{"key":"nope"}`, addr, "haraft.admin.v1.Admin/GetSession"), true,
			[]string{"NotFound", `session "nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(ctx, tc.args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v\n%s", err, tc.wantErr, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
