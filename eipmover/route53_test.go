package eipmover

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"

	"github.com/haraft/haraft/eipmover/r53emu"
)

type r53Fixture struct {
	emu  *r53emu.Emulator
	url  string
	zone string
}

func newR53Fixture(t *testing.T) *r53Fixture {
	t.Helper()
	emu := r53emu.New(r53emu.Options{Credentials: []r53emu.Credentials{
		{AccessKeyID: "AKIDR53", SecretAccessKey: "r53secret"},
		{AccessKeyID: "AKIDREADONLY", SecretAccessKey: "ro", Denied: []string{"ChangeResourceRecordSets"}},
	}})
	zone, err := emu.CreateHostedZone("example.com")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &r53Fixture{emu: emu, url: srv.URL, zone: zone}
}

func (f *r53Fixture) writer(t *testing.T, zone, name, ak, secret string) *Route53 {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewRoute53(context.Background(), Route53Config{
		HostedZoneID: zone, Name: name, Endpoint: f.url, MaxAttempts: 1,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithSharedConfigFiles([]string{empty}), config.WithSharedCredentialsFiles([]string{empty}),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, secret, "")),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRoute53CheckZone(t *testing.T) {
	f := newR53Fixture(t)
	cases := []struct {
		name, zone, record string
		want               string // substring of the error; "" for none
	}{
		{"ok", f.zone, "lb.example.com", ""},
		{"ok with prefix", "/hostedzone/" + f.zone, "LB.Example.COM.", ""},
		{"apex", f.zone, "example.com", ""},
		{"outside zone", f.zone, "lb.example.org", "outside hosted zone"},
		{"suffix is not a subdomain", f.zone, "lbexample.com", "outside hosted zone"},
		{"no such zone", "ZNOSUCHZONE", "lb.example.com", "NoSuchHostedZone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.writer(t, tc.zone, tc.record, "AKIDR53", "r53secret").CheckZone(context.Background())
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("CheckZone = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRoute53FencedReplace: a writer whose view is stale (a deposed
// leader) cannot overwrite a newer change; Route 53 refuses its batch.
func TestRoute53FencedReplace(t *testing.T) {
	f := newR53Fixture(t)
	ctx := context.Background()
	old := f.writer(t, f.zone, "lb.example.com", "AKIDR53", "r53secret")
	cur := f.writer(t, f.zone, "lb.example.com", "AKIDR53", "r53secret")

	seen, err := old.Read(ctx)
	if err != nil || seen.Exists() {
		t.Fatalf("read of a missing record = %v, %v", seen, err)
	}
	first := Record{TTL: 60, Values: []string{"198.51.100.1", "198.51.100.2"}}
	id, err := old.Replace(ctx, seen, first)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	for {
		ok, err := old.InSync(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
	}
	if got, _ := cur.Read(ctx); !got.Equal(first) {
		t.Fatalf("record = %v, want %v", got, first)
	}
	// The new leader moves on from what it read.
	newer := Record{TTL: 60, Values: []string{"198.51.100.2"}}
	if _, err := cur.Replace(ctx, first, newer); err != nil {
		t.Fatalf("newer replace: %v", err)
	}
	// The deposed one still believes the record is `first`.
	_, err = old.Replace(ctx, first, Record{TTL: 60, Values: []string{"198.51.100.1", "198.51.100.3"}})
	var icb *types.InvalidChangeBatch
	if !errors.Is(err, ErrRecordConflict) || !errors.As(err, &icb) {
		t.Fatalf("stale replace = %v, want a conflict", err)
	}
	// Also a stale "create" over an existing record, and a changed TTL.
	if _, err := old.Replace(ctx, Record{}, first); !errors.Is(err, ErrRecordConflict) {
		t.Fatalf("stale create = %v, want a conflict", err)
	}
	if _, err := old.Replace(ctx, Record{TTL: 300, Values: newer.Values}, first); !errors.Is(err, ErrRecordConflict) {
		t.Fatalf("stale ttl = %v, want a conflict", err)
	}
	if got, _ := cur.Read(ctx); !got.Equal(newer) {
		t.Fatalf("record after refused changes = %v, want %v", got, newer)
	}
	if _, err := cur.Replace(ctx, newer, Record{TTL: 60}); err == nil {
		t.Fatal("Replace emptied the record")
	}
}

// TestRoute53ErrorsChangeNothing: throttling, server errors and a key
// without permission fail the call with their codes and leave the record.
func TestRoute53ErrorsChangeNothing(t *testing.T) {
	f := newR53Fixture(t)
	ctx := context.Background()
	rec := Record{TTL: 60, Values: []string{"198.51.100.1"}}
	if err := f.emu.SetRecordSet(f.zone, r53emu.RecordSet{Name: "lb.example.com", Type: "A", TTL: 60, Values: rec.Values}); err != nil {
		t.Fatal(err)
	}
	w := f.writer(t, f.zone, "lb.example.com", "AKIDR53", "r53secret")
	cases := []struct {
		name  string
		w     *Route53
		fault r53emu.Fault
		code  string
	}{
		{"throttled", w, r53emu.Fault{Throttle: 1}, "Throttling"},
		{"server error", w, r53emu.Fault{ServerError: 1}, "InternalFailure"},
		{"access denied", f.writer(t, f.zone, "lb.example.com", "AKIDREADONLY", "ro"), r53emu.Fault{}, "AccessDenied"},
		{"bad secret", f.writer(t, f.zone, "lb.example.com", "AKIDR53", "wrong"), r53emu.Fault{}, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.emu.SetFault("ChangeResourceRecordSets", tc.fault)
			_, err := tc.w.Replace(ctx, rec, Record{TTL: 60, Values: []string{"198.51.100.9"}})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || errors.Is(err, ErrRecordConflict) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if got, _ := w.Read(ctx); !got.Equal(rec) {
				t.Fatalf("record = %v after a failed call", got)
			}
		})
	}
}
