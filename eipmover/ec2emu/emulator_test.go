package ec2emu

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// The same seed and the same calls give the same IDs and the same random
// faults.
func TestSeedIsDeterministic(t *testing.T) {
	run := func() ([]string, map[string]CallStats) {
		f := newFixture(t, Options{Seed: 42})
		c := f.client(t, clientOpt{maxAttempts: 1})
		ctx := ctxT(t)
		var ids []string
		for range 3 {
			out, err := c.AllocateAddress(ctx, &ec2.AllocateAddressInput{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, aws.ToString(out.AllocationId))
		}
		f.emu.SetFaults(Faults{ThrottleRate: 0.3, ServerErrorRate: 0.3, Actions: []string{"DescribeAddresses"}})
		for range 40 {
			_, _ = c.DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
		}
		return ids, f.emu.Stats()
	}
	ids1, st1 := run()
	ids2, st2 := run()
	for i := range ids1 {
		if ids1[i] != ids2[i] {
			t.Fatalf("ids differ: %v %v", ids1, ids2)
		}
	}
	a, b := st1["DescribeAddresses"], st2["DescribeAddresses"]
	if a.OK != b.OK || a.Errors["RequestLimitExceeded"] != b.Errors["RequestLimitExceeded"] || a.Errors["InternalError"] != b.Errors["InternalError"] {
		t.Fatalf("faults differ: %+v %+v", a, b)
	}
	if a.OK == 40 || a.OK == 0 {
		t.Fatalf("rates had no effect: %+v", a)
	}
}

func TestWaitFor(t *testing.T) {
	f := newFixture(t, Options{})
	done := make(chan error, 1)
	go func() {
		_, err := f.emu.WaitFor(ctxT(t), func(as []Address) bool { return as[0].InstanceID == "i-bbbb" })
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c := f.client(t, clientOpt{})
	if _, err := c.AssociateAddress(ctxT(t), &ec2.AssociateAddressInput{AllocationId: aws.String("eipalloc-1"), InstanceId: aws.String("i-bbbb")}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not return")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.emu.WaitFor(ctx, func([]Address) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor after deadline: %v", err)
	}
}

func TestGoMethodErrors(t *testing.T) {
	e := New(Options{})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"instance without id", e.AddInstance(Instance{}), ErrInvalid},
		{"bad private ip", e.AddInstance(Instance{ID: "i-x", PrivateIP: "ten"}), ErrInvalid},
		{"instance", e.AddInstance(Instance{ID: "i-1", ENI: "eni-1"}), nil},
		{"duplicate instance", e.AddInstance(Instance{ID: "i-1"}), ErrExists},
		{"duplicate interface", e.AddInstance(Instance{ID: "i-2", ENI: "eni-1"}), ErrExists},
		{"address without ip", e.AddAddress(Address{AllocationID: "eipalloc-1"}), ErrInvalid},
		{"address on unknown instance", e.AddAddress(Address{AllocationID: "eipalloc-1", PublicIP: "198.51.100.1", InstanceID: "i-9"}), ErrNotFound},
		{"address", e.AddAddress(Address{AllocationID: "eipalloc-1", PublicIP: "198.51.100.1", NetworkInterfaceID: "eni-1"}), nil},
		{"duplicate allocation", e.AddAddress(Address{AllocationID: "eipalloc-1", PublicIP: "198.51.100.2"}), ErrExists},
		{"credentials without secret", e.AddCredentials(Credentials{AccessKey: "AK"}), ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if as := e.Addresses(); len(as) != 1 || as[0].InstanceID != "i-1" {
		t.Fatalf("a failed AddAddress left state behind: %+v", as)
	}
}

func TestVerifyHistory(t *testing.T) {
	at := time.Unix(100, 0)
	ev := func(seq uint64, alloc, assoc, eni, prevAssoc, prevENI string) AssociationEvent {
		return AssociationEvent{Seq: seq, Time: at, AllocationID: alloc, AssociationID: assoc, NetworkInterfaceID: eni, PrivateIP: "10.0.0.1",
			PrevAssociationID: prevAssoc, PrevNetworkInterfaceID: prevENI, PrevPrivateIP: map[bool]string{true: "10.0.0.1"}[prevAssoc != ""]}
	}
	tests := []struct {
		name string
		evs  []AssociationEvent
		ok   bool
	}{
		{"clean handover", []AssociationEvent{ev(1, "a", "x1", "eni-1", "", ""), ev(2, "a", "x2", "eni-2", "x1", "eni-1"), ev(3, "a", "", "", "x2", "eni-2")}, true},
		{"lost change", []AssociationEvent{ev(1, "a", "x1", "eni-1", "", ""), ev(2, "a", "x3", "eni-3", "", "")}, false},
		{"two addresses on one interface", []AssociationEvent{ev(1, "a", "x1", "eni-1", "", ""), ev(2, "b", "y1", "eni-1", "", "")}, false},
		{"seq out of order", []AssociationEvent{ev(2, "a", "x1", "eni-1", "", ""), ev(1, "b", "y1", "eni-2", "", "")}, false},
	}
	for _, tt := range tests {
		err := VerifyHistory(tt.evs)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrHistory)) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
