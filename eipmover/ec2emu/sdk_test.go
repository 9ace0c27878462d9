package ec2emu

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestSDKAddressLifecycle(t *testing.T) {
	f := newFixture(t, Options{Seed: 1})
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)

	alloc, err := c.AllocateAddress(ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	if err != nil {
		t.Fatal(err)
	}
	allocID := aws.ToString(alloc.AllocationId)
	if alloc.Domain != types.DomainTypeVpc || aws.ToString(alloc.PublicIp) != "203.0.113.1" || len(allocID) != len("eipalloc-")+17 {
		t.Fatalf("allocate: %+v", alloc)
	}

	desc, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{allocID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Addresses) != 1 || desc.Addresses[0].AssociationId != nil || aws.ToString(desc.Addresses[0].PublicIp) != "203.0.113.1" {
		t.Fatalf("describe new address: %+v", desc.Addresses)
	}

	// Associate with i-aaaa.
	as1, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: &allocID, InstanceId: aws.String("i-aaaa")})
	if err != nil {
		t.Fatal(err)
	}
	assoc1 := aws.ToString(as1.AssociationId)
	desc, err = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{allocID}})
	if err != nil {
		t.Fatal(err)
	}
	got := desc.Addresses[0]
	if aws.ToString(got.AssociationId) != assoc1 || aws.ToString(got.InstanceId) != "i-aaaa" ||
		aws.ToString(got.NetworkInterfaceId) != "eni-aaaa" || aws.ToString(got.PrivateIpAddress) != "10.0.1.10" ||
		aws.ToString(got.NetworkInterfaceOwnerId) != defaultAccountID || aws.ToString(got.NetworkBorderGroup) != "us-east-1" {
		t.Fatalf("describe after associate: %+v", got)
	}

	// Associating again with the same holder is a no-op.
	again, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: &allocID, InstanceId: aws.String("i-aaaa")})
	if err != nil || aws.ToString(again.AssociationId) != assoc1 {
		t.Fatalf("re-associate same holder: %v, %v", again, err)
	}

	// Moving it needs AllowReassociation.
	_, err = c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: &allocID, NetworkInterfaceId: aws.String("eni-bbbb")})
	if code, status := apiErr(t, err); code != "Resource.AlreadyAssociated" || status != http.StatusBadRequest {
		t.Fatalf("move without AllowReassociation: %s %d", code, status)
	}
	as2, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId: &allocID, NetworkInterfaceId: aws.String("eni-bbbb"), AllowReassociation: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	assoc2 := aws.ToString(as2.AssociationId)
	if assoc2 == assoc1 {
		t.Fatal("reassociation kept the association ID")
	}

	// DescribeInstances shows the EIP on i-bbbb only.
	inst, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Reservations) != 2 {
		t.Fatalf("reservations: %d", len(inst.Reservations))
	}
	for _, r := range inst.Reservations {
		i := r.Instances[0]
		wantIP := ""
		if aws.ToString(i.InstanceId) == "i-bbbb" {
			wantIP = "203.0.113.1"
		}
		if aws.ToString(i.PublicIpAddress) != wantIP || i.State.Name != types.InstanceStateNameRunning ||
			len(i.NetworkInterfaces) != 1 || aws.ToString(i.NetworkInterfaces[0].PrivateIpAddress) != aws.ToString(i.PrivateIpAddress) {
			t.Fatalf("instance %s: public %q state %v ifaces %d", aws.ToString(i.InstanceId), aws.ToString(i.PublicIpAddress), i.State.Name, len(i.NetworkInterfaces))
		}
	}

	// The old association ID is gone.
	_, err = c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: &assoc1})
	if code, _ := apiErr(t, err); code != "InvalidAssociationID.NotFound" {
		t.Fatalf("disassociate stale: %s", code)
	}
	if _, err := c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: &assoc2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: &allocID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{allocID}})
	if code, _ := apiErr(t, err); code != "InvalidAllocationID.NotFound" {
		t.Fatalf("describe released: %s", code)
	}

	evs := f.emu.Associations()
	if len(evs) != 3 {
		t.Fatalf("events: %+v", evs)
	}
	if evs[0].InstanceID != "i-aaaa" || evs[1].InstanceID != "i-bbbb" || evs[1].PrevInstanceID != "i-aaaa" ||
		evs[2].AssociationID != "" || evs[2].PrevAssociationID != assoc2 || evs[1].Cause != "AssociateAddress" {
		t.Fatalf("events: %+v", evs)
	}
	if err := VerifyHistory(evs); err != nil {
		t.Fatal(err)
	}
}

func TestSDKErrorCodes(t *testing.T) {
	f := newFixture(t, Options{})
	// eipalloc-2 is on i-aaaa's primary address, for the conflicts below.
	if err := f.emu.AddAddress(Address{AllocationID: "eipalloc-2", PublicIP: "198.51.100.2", InstanceID: "i-aaaa"}); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	assoc := func(in ec2.AssociateAddressInput) func() error {
		return func() error { _, err := c.AssociateAddress(ctx, &in); return err }
	}
	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"unknown allocation", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-nope"), InstanceId: aws.String("i-aaaa")}),
			"InvalidAllocationID.NotFound", 400},
		{"unknown instance", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-nope")}),
			"InvalidInstanceID.NotFound", 400},
		{"unknown interface", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), NetworkInterfaceId: aws.String("eni-nope")}),
			"InvalidNetworkInterfaceID.NotFound", 400},
		{"instance and interface", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-aaaa"), NetworkInterfaceId: aws.String("eni-aaaa")}),
			"InvalidParameterCombination", 400},
		{"no target", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1")}),
			"MissingParameter", 400},
		{"no address", assoc(ec2.AssociateAddressInput{InstanceId: aws.String("i-aaaa")}),
			"MissingParameter", 400},
		{"private ip not on interface", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-bbbb"), PrivateIpAddress: aws.String("10.9.9.9")}),
			"InvalidParameterValue", 400},
		{"address associated elsewhere", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-2"), InstanceId: aws.String("i-bbbb")}),
			"Resource.AlreadyAssociated", 400},
		{"target holds another address", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-aaaa")}),
			"Resource.AlreadyAssociated", 400},
		{"dry run", assoc(ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-bbbb"), DryRun: aws.Bool(true)}),
			"DryRunOperation", 412},
		{"unknown association", func() error {
			_, err := c.DisassociateAddress(ctx, &ec2.DisassociateAddressInput{AssociationId: aws.String("eipassoc-nope")})
			return err
		}, "InvalidAssociationID.NotFound", 400},
		{"release associated", func() error {
			_, err := c.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String("eipalloc-2")})
			return err
		}, "InvalidIPAddress.InUse", 400},
		{"describe unknown allocation", func() error {
			_, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-nope"}})
			return err
		}, "InvalidAllocationID.NotFound", 400},
		{"describe unknown instance", func() error {
			_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nope"}})
			return err
		}, "InvalidInstanceID.NotFound", 400},
		{"unknown filter", func() error {
			_, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}})
			return err
		}, "InvalidParameterValue", 400},
		{"action the emulator lacks", func() error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
			return err
		}, "InvalidAction", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, status := apiErr(t, tt.call())
			if code != tt.code || status != tt.status {
				t.Fatalf("got %s %d, want %s %d", code, status, tt.code, tt.status)
			}
		})
	}
	// None of the failures changed anything.
	if evs := f.emu.Associations(); len(evs) != 1 {
		t.Fatalf("failed calls changed state: %+v", evs)
	}
}

func TestSDKAuth(t *testing.T) {
	f := newFixture(t, Options{Regions: []string{"us-east-1", "eu-west-1"}})
	if err := f.emu.AddCredentials(Credentials{AccessKey: "AKIDREADONLY", Secret: "ro", AllowedActions: []string{"DescribeAddresses"}}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	tests := []struct {
		name   string
		opt    clientOpt
		region string
		code   string
		status int
	}{
		{"wrong secret", clientOpt{ak: testAK, secret: "not-the-secret"}, "", "AuthFailure", 401},
		{"unknown key", clientOpt{ak: "AKIDUNKNOWN", secret: testSecret}, "", "AuthFailure", 401},
		{"region not allowed", clientOpt{}, "ap-south-1", "AuthFailure", 401},
		{"other allowed region", clientOpt{}, "eu-west-1", "", 200},
		{"read-only key may describe", clientOpt{ak: "AKIDREADONLY", secret: "ro"}, "", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(t, tt.opt)
			var optFns []func(*ec2.Options)
			if tt.region != "" {
				optFns = append(optFns, func(o *ec2.Options) { o.Region = tt.region })
			}
			f.emu.ResetStats()
			_, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{}, optFns...)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if code, status := apiErr(t, err); code != tt.code || status != tt.status {
				t.Fatalf("got %s %d, want %s %d", code, status, tt.code, tt.status)
			}
			if n := f.emu.Stats()["DescribeAddresses"].Calls; n != 1 {
				t.Fatalf("auth failure was retried: %d calls", n)
			}
		})
	}
	t.Run("read-only key may not associate", func(t *testing.T) {
		c := f.client(t, clientOpt{ak: "AKIDREADONLY", secret: "ro"})
		_, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-aaaa")})
		if code, status := apiErr(t, err); code != "UnauthorizedOperation" || status != 403 {
			t.Fatalf("got %s %d", code, status)
		}
	})
}

func TestSDKRetriesThrottling(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	f.emu.SetFaults(Faults{ThrottleEvery: 2})
	for i := range 4 {
		out, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		attempts, _ := retry.GetAttemptResults(out.ResultMetadata)
		// Wire calls 1,3,5,7 succeed; 2,4,6 are throttled.
		want := 2
		if i == 0 {
			want = 1
		}
		if len(attempts.Results) != want {
			t.Fatalf("call %d: %d attempts, want %d", i, len(attempts.Results), want)
		}
	}
	st := f.emu.Stats()["DescribeAddresses"]
	if st.Calls != 7 || st.OK != 4 || st.Errors["RequestLimitExceeded"] != 3 {
		t.Fatalf("stats: %+v", st)
	}

	// Throttled every time: the SDK gives up with the throttling error.
	f.emu.SetFaults(Faults{ThrottleRate: 1})
	f.emu.ResetStats()
	_, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if code, status := apiErr(t, err); code != "RequestLimitExceeded" || status != 503 {
		t.Fatalf("got %s %d", code, status)
	}
	if st := f.emu.Stats()["DescribeAddresses"]; st.Calls != 3 {
		t.Fatalf("want 3 attempts (the standard retryer's default), got %+v", st)
	}
}

func TestSDKRetriesServerErrors(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	// Every call of AssociateAddress fails once: only that action is hit.
	f.emu.SetFaults(Faults{ServerErrorEvery: 2, Actions: []string{"AssociateAddress"}})
	if _, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{}); err != nil {
		t.Fatal(err)
	}
	for i, inst := range []string{"i-aaaa", "i-bbbb"} {
		if _, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{
			AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String(inst), AllowReassociation: aws.Bool(true),
		}); err != nil {
			t.Fatalf("associate %d: %v", i, err)
		}
	}
	st := f.emu.Stats()
	if a := st["AssociateAddress"]; a.Calls != 3 || a.Errors["InternalError"] != 1 || st["DescribeAddresses"].Errors != nil {
		t.Fatalf("stats: %+v", st)
	}
	if got := f.emu.Addresses()[0].InstanceID; got != "i-bbbb" {
		t.Fatalf("holder %s", got)
	}

	// A 500 that comes after the change: the caller sees an error, the
	// change happened, and repeating the call is harmless.
	one := f.client(t, clientOpt{maxAttempts: 1})
	f.emu.SetFaults(Faults{ErrorAfterCommitEvery: 1, Actions: []string{"AssociateAddress"}})
	_, err := one.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-aaaa"), AllowReassociation: aws.Bool(true),
	})
	if code, status := apiErr(t, err); code != "InternalError" || status != 500 {
		t.Fatalf("got %s %d", code, status)
	}
	a := f.emu.Addresses()[0]
	if a.InstanceID != "i-aaaa" {
		t.Fatalf("change after commit was not made: %+v", a)
	}
	f.emu.SetFaults(Faults{})
	out, err := one.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-aaaa")})
	if err != nil || aws.ToString(out.AssociationId) != a.AssociationID {
		t.Fatalf("repeat: %v %v", out, err)
	}
}

func TestSDKDescribeLag(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	const lag = time.Second
	f.emu.SetFaults(Faults{DescribeLag: lag, Actions: []string{"DescribeAddresses"}})

	out, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-bbbb")})
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	// The emulator's own view is current at once.
	if a := f.emu.Addresses()[0]; a.AssociationID != aws.ToString(out.AssociationId) {
		t.Fatalf("Addresses: %+v", a)
	}
	// DescribeAddresses is stale, then consistent.
	stale := 0
	for {
		d, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-1"}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(d.Addresses[0].AssociationId) == aws.ToString(out.AssociationId) {
			break
		}
		if d.Addresses[0].AssociationId != nil {
			t.Fatalf("stale view shows some other association: %+v", d.Addresses[0])
		}
		stale++
		if time.Since(changed) > 5*time.Second {
			t.Fatal("never became consistent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if elapsed := time.Since(changed); stale == 0 || elapsed < lag-50*time.Millisecond {
		t.Fatalf("consistent after %v with %d stale reads, want about %v", elapsed, stale, lag)
	}

	// An allocated address is not visible at first either.
	al, err := c.AllocateAddress(ctx, &ec2.AllocateAddressInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{aws.ToString(al.AllocationId)}})
	if code, _ := apiErr(t, err); code != "InvalidAllocationID.NotFound" {
		t.Fatalf("fresh allocation: %s", code)
	}
}

func TestSDKLatency(t *testing.T) {
	f := newFixture(t, Options{})
	c := f.client(t, clientOpt{})
	f.emu.SetFaults(Faults{Latency: 150 * time.Millisecond})
	start := time.Now()
	if _, err := c.DescribeAddresses(ctxT(t), &ec2.DescribeAddressesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("call took %v", d)
	}
}

func TestSDKDescribeFilters(t *testing.T) {
	f := newFixture(t, Options{})
	for _, a := range []Address{
		{AllocationID: "eipalloc-2", PublicIP: "198.51.100.2", InstanceID: "i-aaaa"},
		{AllocationID: "eipalloc-3", PublicIP: "198.51.100.3", NetworkInterfaceID: "eni-bbbb"},
		{AllocationID: "eipalloc-4", PublicIP: "198.51.100.4", InstanceID: "i-aaaa", PrivateIP: "10.0.1.11"},
	} {
		if err := f.emu.AddAddress(a); err != nil {
			t.Fatal(err)
		}
	}
	assocOf := map[string]string{}
	for _, a := range f.emu.Addresses() {
		assocOf[a.AllocationID] = a.AssociationID
	}
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	filt := func(kv ...string) []types.Filter {
		var fs []types.Filter
		for i := 0; i < len(kv); i += 2 {
			fs = append(fs, types.Filter{Name: aws.String(kv[i]), Values: []string{kv[i+1]}})
		}
		return fs
	}
	tests := []struct {
		name string
		in   ec2.DescribeAddressesInput
		want []string
	}{
		{"all", ec2.DescribeAddressesInput{}, []string{"eipalloc-1", "eipalloc-2", "eipalloc-3", "eipalloc-4"}},
		{"allocation ids", ec2.DescribeAddressesInput{AllocationIds: []string{"eipalloc-3", "eipalloc-1"}}, []string{"eipalloc-1", "eipalloc-3"}},
		{"public ips", ec2.DescribeAddressesInput{PublicIps: []string{"198.51.100.2"}}, []string{"eipalloc-2"}},
		{"instance-id", ec2.DescribeAddressesInput{Filters: filt("instance-id", "i-aaaa")}, []string{"eipalloc-2", "eipalloc-4"}},
		{"network-interface-id", ec2.DescribeAddressesInput{Filters: filt("network-interface-id", "eni-bbbb")}, []string{"eipalloc-3"}},
		{"association-id", ec2.DescribeAddressesInput{Filters: filt("association-id", assocOf["eipalloc-3"])}, []string{"eipalloc-3"}},
		{"allocation-id", ec2.DescribeAddressesInput{Filters: filt("allocation-id", "eipalloc-4")}, []string{"eipalloc-4"}},
		{"public-ip wildcard", ec2.DescribeAddressesInput{Filters: filt("public-ip", "198.51.100.?")}, []string{"eipalloc-1", "eipalloc-2", "eipalloc-3", "eipalloc-4"}},
		{"domain", ec2.DescribeAddressesInput{Filters: filt("domain", "vpc")}, []string{"eipalloc-1", "eipalloc-2", "eipalloc-3", "eipalloc-4"}},
		{"private ip", ec2.DescribeAddressesInput{Filters: filt("private-ip-address", "10.0.1.11")}, []string{"eipalloc-4"}},
		{"filters are ANDed", ec2.DescribeAddressesInput{Filters: filt("instance-id", "i-aaaa", "private-ip-address", "10.0.1.10")}, []string{"eipalloc-2"}},
		{"values are ORed", ec2.DescribeAddressesInput{Filters: []types.Filter{{Name: aws.String("allocation-id"), Values: []string{"eipalloc-1", "eipalloc-3"}}}}, []string{"eipalloc-1", "eipalloc-3"}},
		{"no match", ec2.DescribeAddressesInput{Filters: filt("instance-id", "i-zzzz")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeAddresses(ctx, &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range out.Addresses {
				got = append(got, aws.ToString(a.AllocationId))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("instances by az", func(t *testing.T) {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: filt("availability-zone", "us-east-1b")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].InstanceId) != "i-bbbb" ||
			aws.ToString(out.Reservations[0].Instances[0].Placement.AvailabilityZone) != "us-east-1b" {
			t.Fatalf("%+v", out.Reservations)
		}
	})
}

// Many movers fighting over one address through the SDK: every change is a
// clean handover and the log says so.
func TestSDKConcurrentTakeovers(t *testing.T) {
	f := newFixture(t, Options{})
	for i, id := range []string{"i-c1", "i-c2", "i-c3", "i-c4"} {
		if err := f.emu.AddInstance(Instance{ID: id, PrivateIP: "10.0.3." + string(rune('1'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []AssociationEvent
	var seenMu sync.Mutex
	cancel := f.emu.OnAssociationChange(func(ev AssociationEvent) {
		seenMu.Lock()
		seen = append(seen, ev)
		seenMu.Unlock()
	})
	defer cancel()
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for _, id := range []string{"i-aaaa", "i-bbbb", "i-c1", "i-c2", "i-c3", "i-c4"} {
		wg.Go(func() {
			c := f.client(t, clientOpt{})
			for range 5 {
				if _, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{
					AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String(id), AllowReassociation: aws.Bool(true),
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs := f.emu.Associations()
	if err := VerifyHistory(evs); err != nil {
		t.Fatal(err)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	if !slices.EqualFunc(seen, evs, func(a, b AssociationEvent) bool { return a.Seq == b.Seq }) {
		t.Fatalf("watcher saw %d events out of order or incomplete, log has %d", len(seen), len(evs))
	}
	if last := evs[len(evs)-1]; f.emu.Addresses()[0].AssociationID != last.AssociationID {
		t.Fatal("final state differs from the log")
	}
}

// The lag boundary, exactly, with a clock the test moves.
func TestSDKDescribeLagBoundary(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := newFixture(t, Options{Now: clock})
	c := f.client(t, clientOpt{})
	ctx := ctxT(t)
	f.emu.SetFaults(Faults{DescribeLag: 300 * time.Millisecond})

	holder := func() string {
		t.Helper()
		d, err := c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(d.Addresses[0].InstanceId)
	}
	assoc := func(inst string) {
		t.Helper()
		if _, err := c.AssociateAddress(ctx, &ec2.AssociateAddressInput{
			AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String(inst), AllowReassociation: aws.Bool(true),
		}); err != nil {
			t.Fatal(err)
		}
	}
	assoc("i-aaaa")
	advance(100 * time.Millisecond)
	assoc("i-bbbb")
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, ""},                           // t=100ms after the first change: nothing visible yet
		{199 * time.Millisecond, ""},      // 299ms
		{time.Millisecond, "i-aaaa"},      // 300ms: the first change, not yet the second
		{99 * time.Millisecond, "i-aaaa"}, // 399ms
		{time.Millisecond, "i-bbbb"},      // 400ms: the second change
	}
	for i, s := range steps {
		advance(s.advance)
		if got := holder(); got != s.want {
			t.Fatalf("step %d: holder %q, want %q", i, got, s.want)
		}
	}
}
