package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// h2specSummary matches h2spec's last line: "145 tests, 145 passed, 0
// skipped, 0 failed".
var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestTLSFrontendH2spec runs h2spec (github.com/summerwind/h2spec, the
// HTTP/2 conformance suite: .ci/run installs it) against a TLS frontend in
// front of a real server, and fails on any failed case. Without h2spec on
// PATH it skips, unless H2SPEC_REQUIRED is set (.ci/run sets it).
func TestTLSFrontendH2spec(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil && os.Getenv("H2SPEC_REQUIRED") != "" {
		t.Fatalf("H2SPEC_REQUIRED is set and h2spec is not on PATH: %v", err)
	}
	if err != nil {
		t.Skip("h2spec not on PATH (go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible)")
	}
	ca := newTestCA(t)
	pair, _ := ca.issue(t, t.TempDir(), "web", "localhost")
	srv := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "read %d bytes\n", n)
	})
	f, _ := startTLSProxy(t, tlsProxyOpts{certs: []CertPair{pair}}, srv)
	_, port, err := net.SplitHostPort(f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// -o: seconds h2spec waits for an expected frame; generous, so that a
	// busy machine does not fail a case the frontend gets right.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t", "-k", "-h", "127.0.0.1", "-p", port, "-o", "5")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run() // h2spec exits 1 when a case fails: the summary decides
	m := h2specSummary.FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("h2spec: no summary line (%v):\n%s", runErr, out.Bytes())
	}
	var n [4]int
	for i := range n {
		n[i], _ = strconv.Atoi(string(m[i+1]))
	}
	t.Logf("h2spec: %s", m[0])
	if n[3] != 0 || n[1] != n[0] || n[0] == 0 {
		t.Fatalf("h2spec: %s\n%s", m[0], out.Bytes())
	}
}
