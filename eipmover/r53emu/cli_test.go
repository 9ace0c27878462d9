package r53emu

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// awsCLIs returns the distinct AWS CLIs here: the one on PATH and Debian's
// (which may differ: v1 from pip, v2 from the awscli package).
func awsCLIs() []string {
	var bins, seen []string
	for _, name := range []string{"aws", "/usr/bin/aws"} {
		bin, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(bin)
		if err != nil || slices.Contains(seen, real) {
			continue
		}
		seen = append(seen, real)
		bins = append(bins, bin)
	}
	return bins
}

type awsCLI struct{ bin, url, ak, secret, home string }

// run runs the CLI against the emulator with credentials from the
// environment only.
func (a *awsCLI) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	empty := filepath.Join(a.home, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append(args, "--endpoint-url", a.url, "--region", "us-east-1", "--output", "json")
	cmd := exec.CommandContext(ctx, a.bin, args...)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
	cmd.Env = append(env,
		"AWS_ACCESS_KEY_ID="+a.ak, "AWS_SECRET_ACCESS_KEY="+a.secret,
		"AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestAWSCLICrossCheck(t *testing.T) {
	bins := awsCLIs()
	if len(bins) == 0 {
		t.Skip("skipping the AWS CLI cross-check: no `aws` on PATH (Debian: apt-get install awscli)")
	}
	for _, bin := range bins {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			testAWSCLICrossCheck(t, bin)
		})
	}
}

func testAWSCLICrossCheck(t *testing.T, bin string) {
	f := newFixture(t, Options{Seed: 7})
	cli := &awsCLI{bin: bin, url: f.srv.URL, ak: testAK, secret: testSecret, home: t.TempDir()}
	batch := func(action string, ttl int, values ...string) string {
		var recs []string
		for _, v := range values {
			recs = append(recs, `{"Value":"`+v+`"}`)
		}
		return `{"Changes":[{"Action":"` + action + `","ResourceRecordSet":{"Name":"lb.example.com.","Type":"A","TTL":` + strconv.Itoa(ttl) + `,"ResourceRecords":[` + strings.Join(recs, ",") + `]}}]}`
	}

	out, stderr, err := cli.run(t, "route53", "change-resource-record-sets", "--hosted-zone-id", f.zone,
		"--change-batch", batch("CREATE", 60, "198.51.100.1", "198.51.100.2"))
	if err != nil {
		t.Fatalf("change-resource-record-sets: %v\n%s", err, stderr)
	}
	var ch struct{ ChangeInfo struct{ Id, Status string } }
	if err := json.Unmarshal([]byte(out), &ch); err != nil || ch.ChangeInfo.Status != "PENDING" || !strings.HasPrefix(ch.ChangeInfo.Id, "/change/C") {
		t.Fatalf("change output %q: %v", out, err)
	}
	rs, ok := f.emu.LookupRecordSet(f.zone, "lb.example.com", "A")
	if !ok || rs.TTL != 60 || !sameValues(rs.Values, []string{"198.51.100.1", "198.51.100.2"}) {
		t.Fatalf("emulator after CLI change: %+v %v", rs, ok)
	}
	// get-change: PENDING once, then INSYNC; the waiter polls it the same way.
	out, stderr, err = cli.run(t, "route53", "get-change", "--id", ch.ChangeInfo.Id)
	if err != nil || !strings.Contains(out, `"PENDING"`) {
		t.Fatalf("get-change: %v %q\n%s", err, out, stderr)
	}
	if _, stderr, err := cli.run(t, "route53", "wait", "resource-record-sets-changed", "--id", ch.ChangeInfo.Id); err != nil {
		t.Fatalf("wait resource-record-sets-changed: %v\n%s", err, stderr)
	}

	// list-resource-record-sets shows what the SDK shows.
	out, stderr, err = cli.run(t, "route53", "list-resource-record-sets", "--hosted-zone-id", f.zone)
	if err != nil {
		t.Fatalf("list-resource-record-sets: %v\n%s", err, stderr)
	}
	var list struct {
		ResourceRecordSets []struct {
			Name, Type      string
			TTL             int64
			ResourceRecords []struct{ Value string }
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	var names, values []string
	for _, r := range list.ResourceRecordSets {
		names = append(names, r.Name+" "+r.Type)
		if r.Type == "A" {
			for _, v := range r.ResourceRecords {
				values = append(values, v.Value)
			}
		}
	}
	if want := []string{"example.com. NS", "example.com. SOA", "lb.example.com. A"}; !slices.Equal(names, want) {
		t.Fatalf("CLI lists %v, want %v", names, want)
	}
	slices.Sort(values)
	if sdk := listA(t, f.client(t, testAK, testSecret, 1), f.zone, "lb.example.com."); !slices.Equal(values, sdk) {
		t.Fatalf("CLI sees %v, SDK sees %v", values, sdk)
	}

	// A stale DELETE is refused with InvalidChangeBatch and its message.
	_, stderr, err = cli.run(t, "route53", "change-resource-record-sets", "--hosted-zone-id", f.zone,
		"--change-batch", batch("DELETE", 60, "198.51.100.1"))
	if err == nil || !strings.Contains(stderr, "InvalidChangeBatch") || !strings.Contains(stderr, "do not match the current values") {
		t.Fatalf("stale delete: err %v, stderr %q", err, stderr)
	}
	// An unknown zone and a wrong secret reach the CLI with their codes.
	_, stderr, err = cli.run(t, "route53", "get-hosted-zone", "--id", "ZNOSUCHZONE")
	if err == nil || !strings.Contains(stderr, "NoSuchHostedZone") {
		t.Fatalf("unknown zone: err %v, stderr %q", err, stderr)
	}
	bad := *cli
	bad.secret = "not-the-secret"
	_, stderr, err = bad.run(t, "route53", "get-hosted-zone", "--id", f.zone)
	if err == nil || !strings.Contains(stderr, "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: err %v, stderr %q", err, stderr)
	}
}
