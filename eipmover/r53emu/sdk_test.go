package r53emu

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
)

const (
	testAK     = "AKIDR53TEST"
	testSecret = "r53/secret+with/odd=chars"
)

type fixture struct {
	emu  *Emulator
	srv  *httptest.Server
	zone string
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = []Credentials{{AccessKeyID: testAK, SecretAccessKey: testSecret}}
	}
	e := New(opts)
	zone, err := e.CreateHostedZone("example.com")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fixture{emu: e, srv: srv, zone: zone}
}

// client is the real SDK client, configured as an application would be,
// pointed at the emulator, with no retries unless asked.
func (f *fixture) client(t *testing.T, ak, secret string, attempts int) *route53.Client {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithSharedConfigFiles([]string{empty}),
		config.WithSharedCredentialsFiles([]string{empty}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, secret, "")),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return route53.NewFromConfig(cfg, func(o *route53.Options) { o.BaseEndpoint = aws.String(f.srv.URL) })
}

func aChange(action types.ChangeAction, name string, ttl int64, values ...string) types.Change {
	rs := &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA, TTL: aws.Int64(ttl)}
	for _, v := range values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return types.Change{Action: action, ResourceRecordSet: rs}
}

func changeRRs(ctx context.Context, c *route53.Client, zone string, changes ...types.Change) (*route53.ChangeResourceRecordSetsOutput, error) {
	return c.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone),
		ChangeBatch:  &types.ChangeBatch{Changes: changes, Comment: aws.String("test")},
	})
}

func listA(t *testing.T, c *route53.Client, zone, name string) []string {
	t.Helper()
	out, err := c.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: aws.String(name), StartRecordType: types.RRTypeA, MaxItems: aws.Int32(1),
	})
	if err != nil {
		t.Fatalf("ListResourceRecordSets: %v", err)
	}
	if len(out.ResourceRecordSets) == 0 || aws.ToString(out.ResourceRecordSets[0].Name) != name || out.ResourceRecordSets[0].Type != types.RRTypeA {
		return nil
	}
	var vals []string
	for _, r := range out.ResourceRecordSets[0].ResourceRecords {
		vals = append(vals, aws.ToString(r.Value))
	}
	slices.Sort(vals)
	return vals
}

func TestSDKCreateListDeleteAndChangeStatus(t *testing.T) {
	f := newFixture(t, Options{Seed: 1, PendingPolls: 2})
	c := f.client(t, testAK, testSecret, 1)
	ctx := context.Background()

	out, err := changeRRs(ctx, c, "/hostedzone/"+f.zone, aChange(types.ChangeActionCreate, "lb.example.com", 60, "198.51.100.1", "198.51.100.2"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if out.ChangeInfo.Status != types.ChangeStatusPending {
		t.Fatalf("status after change = %s, want PENDING", out.ChangeInfo.Status)
	}
	id := aws.ToString(out.ChangeInfo.Id)
	var statuses []types.ChangeStatus
	for range 3 {
		g, err := c.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(id)})
		if err != nil {
			t.Fatalf("GetChange: %v", err)
		}
		statuses = append(statuses, g.ChangeInfo.Status)
	}
	if want := []types.ChangeStatus{"PENDING", "PENDING", "INSYNC"}; !slices.Equal(statuses, want) {
		t.Fatalf("GetChange statuses = %v, want %v", statuses, want)
	}
	if got := listA(t, c, f.zone, "lb.example.com."); !slices.Equal(got, []string{"198.51.100.1", "198.51.100.2"}) {
		t.Fatalf("record = %v", got)
	}
	hz, err := c.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(f.zone)})
	if err != nil {
		t.Fatalf("GetHostedZone: %v", err)
	}
	if aws.ToString(hz.HostedZone.Name) != "example.com." || aws.ToInt64(hz.HostedZone.ResourceRecordSetCount) != 3 {
		t.Fatalf("hosted zone = %s with %d records", aws.ToString(hz.HostedZone.Name), aws.ToInt64(hz.HostedZone.ResourceRecordSetCount))
	}

	// The fenced replace: DELETE exactly what was seen, CREATE the new set.
	if _, err := changeRRs(ctx, c, f.zone,
		aChange(types.ChangeActionDelete, "lb.example.com.", 60, "198.51.100.2", "198.51.100.1"),
		aChange(types.ChangeActionCreate, "lb.example.com.", 60, "198.51.100.1")); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got := listA(t, c, f.zone, "lb.example.com."); !slices.Equal(got, []string{"198.51.100.1"}) {
		t.Fatalf("record after replace = %v", got)
	}
}

func TestSDKStaleDeleteIsRefusedAndChangesNothing(t *testing.T) {
	f := newFixture(t, Options{Seed: 2})
	c := f.client(t, testAK, testSecret, 1)
	ctx := context.Background()
	if err := f.emu.SetRecordSet(f.zone, RecordSet{Name: "lb.example.com", Type: "A", TTL: 60, Values: []string{"198.51.100.9"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		changes []types.Change
	}{
		{"stale values", []types.Change{
			aChange(types.ChangeActionDelete, "lb.example.com.", 60, "198.51.100.1"),
			aChange(types.ChangeActionCreate, "lb.example.com.", 60, "198.51.100.2")}},
		{"stale ttl", []types.Change{
			aChange(types.ChangeActionDelete, "lb.example.com.", 300, "198.51.100.9"),
			aChange(types.ChangeActionCreate, "lb.example.com.", 60, "198.51.100.2")}},
		{"create over existing", []types.Change{
			aChange(types.ChangeActionCreate, "lb.example.com.", 60, "198.51.100.2")}},
		{"delete missing", []types.Change{
			aChange(types.ChangeActionDelete, "other.example.com.", 60, "198.51.100.2")}},
		{"outside zone", []types.Change{
			aChange(types.ChangeActionUpsert, "lb.example.org.", 60, "198.51.100.2")}},
		{"not ipv4", []types.Change{
			aChange(types.ChangeActionUpsert, "x.example.com.", 60, "2001:db8::1")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := changeRRs(ctx, c, f.zone, tc.changes...)
			var icb *types.InvalidChangeBatch
			if !errors.As(err, &icb) || !strings.HasPrefix(icb.ErrorMessage(), "[") {
				t.Fatalf("err = %v, want InvalidChangeBatch with its messages", err)
			}
			if got := listA(t, c, f.zone, "lb.example.com."); !slices.Equal(got, []string{"198.51.100.9"}) {
				t.Fatalf("record changed to %v by a refused batch", got)
			}
		})
	}
}

func TestSDKErrors(t *testing.T) {
	f := newFixture(t, Options{Seed: 3})
	f.emu.AddCredentials(Credentials{AccessKeyID: "AKIDREADONLY", SecretAccessKey: "ro", Denied: []string{"ChangeResourceRecordSets"}})
	ctx := context.Background()
	good := f.client(t, testAK, testSecret, 1)
	cases := []struct {
		name   string
		client *route53.Client
		fault  Fault
		zone   string
		code   string
	}{
		{"wrong secret", f.client(t, testAK, "nope", 1), Fault{}, f.zone, "SignatureDoesNotMatch"},
		{"unknown key", f.client(t, "AKIDUNKNOWN", "x", 1), Fault{}, f.zone, "SignatureDoesNotMatch"},
		{"denied", f.client(t, "AKIDREADONLY", "ro", 1), Fault{}, f.zone, "AccessDenied"},
		{"no zone", good, Fault{}, "ZNOSUCHZONE", "NoSuchHostedZone"},
		{"throttled", good, Fault{Throttle: 1}, f.zone, "Throttling"},
		{"server error", good, Fault{ServerError: 1}, f.zone, "InternalFailure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.emu.SetFault("ChangeResourceRecordSets", tc.fault)
			_, err := changeRRs(ctx, tc.client, tc.zone, aChange(types.ChangeActionUpsert, "lb.example.com.", 60, "198.51.100.1"))
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			if _, ok := f.emu.LookupRecordSet(f.zone, "lb.example.com", "A"); ok {
				t.Fatal("a failed call created the record")
			}
		})
	}
	// With retries, the standard retryer gets through throttling and 5xx.
	f.emu.SetFault("ChangeResourceRecordSets", Fault{Throttle: 1, ServerError: 1})
	if _, err := changeRRs(ctx, f.client(t, testAK, testSecret, 3), f.zone, aChange(types.ChangeActionUpsert, "lb.example.com.", 60, "198.51.100.1")); err != nil {
		t.Fatalf("with retries: %v", err)
	}
}

func TestSDKListPaging(t *testing.T) {
	f := newFixture(t, Options{Seed: 4})
	c := f.client(t, testAK, testSecret, 1)
	for _, n := range []string{"b.example.com", "a.example.com", "z.a.example.com"} {
		if err := f.emu.SetRecordSet(f.zone, RecordSet{Name: n, Type: "A", TTL: 60, Values: []string{"192.0.2.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	p := route53.NewListResourceRecordSetsPaginator(c, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.zone), MaxItems: aws.Int32(2)})
	var got []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range out.ResourceRecordSets {
			got = append(got, aws.ToString(rs.Name)+" "+string(rs.Type))
		}
	}
	want := []string{"example.com. NS", "example.com. SOA", "a.example.com. A", "z.a.example.com. A", "b.example.com. A"}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}
