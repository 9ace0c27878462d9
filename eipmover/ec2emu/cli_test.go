package ec2emu

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// cliAddress is an address as `aws ec2 describe-addresses --output json`
// prints it.
type cliAddress struct {
	AllocationId       string
	PublicIp           string
	Domain             string
	AssociationId      string
	InstanceId         string
	NetworkInterfaceId string
	PrivateIpAddress   string
}

type awsCLI struct {
	bin, url, ak, secret string
	home                 string
}

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

// run runs the CLI against the emulator with credentials from the
// environment only: config and credentials files are empty, IMDS is off.
func (a *awsCLI) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	empty := filepath.Join(a.home, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--endpoint-url", a.url, "--region", testRegion, "--output", "json")
	// The CLI is a Python program: on a busy machine one call can take
	// tens of seconds just to start.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, a.bin, args...)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
	cmd.Env = append(env,
		"AWS_ACCESS_KEY_ID="+a.ak,
		"AWS_SECRET_ACCESS_KEY="+a.secret,
		"AWS_CONFIG_FILE="+empty,
		"AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (a *awsCLI) describeAddresses(t *testing.T, args ...string) []cliAddress {
	t.Helper()
	out, stderr, err := a.run(t, append([]string{"ec2", "describe-addresses"}, args...)...)
	if err != nil {
		t.Fatalf("aws ec2 describe-addresses: %v\n%s", err, stderr)
	}
	var resp struct{ Addresses []cliAddress }
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("describe-addresses output %q: %v", out, err)
	}
	return resp.Addresses
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
	f := newFixture(t, Options{})
	cli := &awsCLI{bin: bin, url: f.srv.URL, ak: testAK, secret: testSecret, home: t.TempDir()}
	if out, stderr, err := cli.run(t, "--version"); err == nil {
		t.Logf("%s", strings.TrimSpace(out+stderr))
	}
	if err := f.emu.AddAddress(Address{AllocationID: "eipalloc-2", PublicIP: "198.51.100.2", InstanceID: "i-aaaa"}); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, clientOpt{})
	// The CLI and the SDK see the same addresses and associations. Each SDK
	// call gets its own deadline: the CLI calls between them take seconds
	// each (more under -race on a loaded machine).
	sameAsSDK := func(t *testing.T, got []cliAddress) {
		t.Helper()
		out, err := c.DescribeAddresses(ctxT(t), &ec2.DescribeAddressesInput{})
		if err != nil {
			t.Fatal(err)
		}
		var want []cliAddress
		for _, a := range out.Addresses {
			want = append(want, cliAddress{
				AllocationId: aws.ToString(a.AllocationId), PublicIp: aws.ToString(a.PublicIp), Domain: string(a.Domain),
				AssociationId: aws.ToString(a.AssociationId), InstanceId: aws.ToString(a.InstanceId),
				NetworkInterfaceId: aws.ToString(a.NetworkInterfaceId), PrivateIpAddress: aws.ToString(a.PrivateIpAddress),
			})
		}
		if !slices.Equal(got, want) {
			t.Fatalf("CLI sees\n%+v\nSDK sees\n%+v", got, want)
		}
	}
	before := cli.describeAddresses(t)
	if len(before) != 2 || before[1].InstanceId != "i-aaaa" || before[1].AssociationId == "" || before[0].AssociationId != "" {
		t.Fatalf("CLI describe-addresses: %+v", before)
	}
	sameAsSDK(t, before)

	// associate-address through the CLI.
	out, stderr, err := cli.run(t, "ec2", "associate-address", "--allocation-id", "eipalloc-1", "--instance-id", "i-bbbb")
	if err != nil {
		t.Fatalf("associate-address: %v\n%s", err, stderr)
	}
	var assoc struct{ AssociationId string }
	if err := json.Unmarshal([]byte(out), &assoc); err != nil || !strings.HasPrefix(assoc.AssociationId, "eipassoc-") {
		t.Fatalf("associate-address output %q: %v", out, err)
	}
	if got := f.emu.Addresses()[0]; got.AssociationID != assoc.AssociationId || got.InstanceID != "i-bbbb" {
		t.Fatalf("emulator after CLI associate: %+v", got)
	}
	after := cli.describeAddresses(t)
	sameAsSDK(t, after)
	if filtered := cli.describeAddresses(t, "--filters", "Name=instance-id,Values=i-bbbb"); len(filtered) != 1 || filtered[0].AllocationId != "eipalloc-1" {
		t.Fatalf("CLI filter: %+v", filtered)
	}

	// EC2 errors reach the CLI with their codes.
	_, stderr, err = cli.run(t, "ec2", "associate-address", "--allocation-id", "eipalloc-2", "--instance-id", "i-bbbb")
	if err == nil || !strings.Contains(stderr, "Resource.AlreadyAssociated") {
		t.Fatalf("conflicting associate: err %v, stderr %q", err, stderr)
	}

	// describe-instances shows the EIP on the instance.
	out, stderr, err = cli.run(t, "ec2", "describe-instances", "--instance-ids", "i-bbbb")
	if err != nil {
		t.Fatalf("describe-instances: %v\n%s", err, stderr)
	}
	var inst struct {
		Reservations []struct {
			Instances []struct {
				InstanceId, PublicIpAddress, PrivateIpAddress string
				Placement                                     struct{ AvailabilityZone string }
				State                                         struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &inst); err != nil {
		t.Fatal(err)
	}
	if len(inst.Reservations) != 1 || len(inst.Reservations[0].Instances) != 1 {
		t.Fatalf("describe-instances: %s", out)
	}
	if i := inst.Reservations[0].Instances[0]; i.InstanceId != "i-bbbb" || i.PublicIpAddress != "198.51.100.1" ||
		i.Placement.AvailabilityZone != "us-east-1b" || i.State.Name != "running" || i.PrivateIpAddress != "10.0.2.10" {
		t.Fatalf("describe-instances: %+v", i)
	}

	// disassociate-address through the CLI.
	if _, stderr, err := cli.run(t, "ec2", "disassociate-address", "--association-id", assoc.AssociationId); err != nil {
		t.Fatalf("disassociate-address: %v\n%s", err, stderr)
	}
	sameAsSDK(t, cli.describeAddresses(t))
	if err := VerifyHistory(f.emu.Associations()); err != nil {
		t.Fatal(err)
	}

	// A wrong secret makes the CLI fail with AuthFailure.
	bad := *cli
	bad.secret = "not-the-secret"
	_, stderr, err = bad.run(t, "ec2", "describe-addresses")
	if err == nil || !strings.Contains(stderr, "AuthFailure") {
		t.Fatalf("wrong secret: err %v, stderr %q", err, stderr)
	}
}
