package r53emu

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Watch reports each state a record set took, once per accepted change:
// an atomic replace (DELETE and CREATE in one batch) is one new state,
// never a deletion; a refused batch reports nothing.
func TestWatchSeesEveryChange(t *testing.T) {
	f := newFixture(t, Options{Seed: 4})
	c := f.client(t, testAK, testSecret, 1)
	ctx := context.Background()
	var got []string
	f.emu.Watch(func(zone string, rs RecordSet, deleted bool) {
		if zone != f.zone {
			t.Errorf("change reported in zone %q", zone)
		}
		got = append(got, fmt.Sprintf("%s %s %d %v deleted=%v", rs.Name, rs.Type, rs.TTL, rs.Values, deleted))
	})
	steps := []struct {
		name    string
		changes []types.Change
		refused bool
	}{
		{"create", []types.Change{aChange(types.ChangeActionCreate, "lb.example.com", 60, "198.51.100.1", "198.51.100.2")}, false},
		{"same values again", []types.Change{aChange(types.ChangeActionUpsert, "lb.example.com", 60, "198.51.100.1", "198.51.100.2")}, false},
		{"replace", []types.Change{
			aChange(types.ChangeActionDelete, "lb.example.com", 60, "198.51.100.1", "198.51.100.2"),
			aChange(types.ChangeActionCreate, "lb.example.com", 60, "198.51.100.1")}, false},
		{"stale delete", []types.Change{aChange(types.ChangeActionDelete, "lb.example.com", 60, "198.51.100.9")}, true},
		{"delete", []types.Change{aChange(types.ChangeActionDelete, "lb.example.com", 60, "198.51.100.1")}, false},
	}
	for _, s := range steps {
		if _, err := changeRRs(ctx, c, f.zone, s.changes...); (err != nil) != s.refused {
			t.Fatalf("%s: err = %v", s.name, err)
		}
	}
	if err := f.emu.SetRecordSet(f.zone, RecordSet{Name: "lb.example.com", Type: "A", TTL: 300, Values: []string{"192.0.2.66"}}); err != nil {
		t.Fatal(err)
	}
	f.emu.Watch(nil)
	if err := f.emu.SetRecordSet(f.zone, RecordSet{Name: "lb.example.com", Type: "A"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"lb.example.com. A 60 [198.51.100.1 198.51.100.2] deleted=false",
		"lb.example.com. A 60 [198.51.100.1] deleted=false",
		"lb.example.com. A 60 [198.51.100.1] deleted=true",
		"lb.example.com. A 300 [192.0.2.66] deleted=false",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("watched:\n%q\nwant:\n%q", got, want)
	}
}
