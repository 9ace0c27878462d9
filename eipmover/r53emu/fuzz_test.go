package r53emu

import (
	"maps"
	"strings"
	"testing"
)

// FuzzChangeBatch feeds arbitrary ChangeResourceRecordSets bodies to a zone.
// Nothing panics; a refused batch changes nothing; an accepted one leaves
// only well-formed records inside the zone.
func FuzzChangeBatch(f *testing.F) {
	for _, s := range []string{
		`<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>lb.example.com</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>198.51.100.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>lb.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>198.51.100.9</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change><Change><Action>CREATE</Action><ResourceRecordSet><Name>lb.example.com.</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>198.51.100.2</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>x..example.com</Name><Type>TXT</Type><TTL>-1</TTL></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>example.org</Name><Type>AAAA</Type><TTL>1</TTL><ResourceRecords><ResourceRecord><Value>::ffff:1.2.3.4</Value></ResourceRecord></ResourceRecords><AliasTarget><DNSName>a</DNSName></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest>`, ``, `<a><b>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := New(Options{})
		id, err := e.CreateHostedZone("example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetRecordSet(id, RecordSet{Name: "lb.example.com", Type: "A", TTL: 60, Values: []string{"198.51.100.9"}}); err != nil {
			t.Fatal(err)
		}
		z := e.zones[id]
		before := maps.Clone(z.records)
		_, apiErr := e.changeLocked(id, body)
		if apiErr != nil {
			if apiErr.Status != 400 || apiErr.Code == "" {
				t.Fatalf("refusal %+v is not a 400 with a code", apiErr)
			}
			if !maps.EqualFunc(before, z.records, func(a, b RecordSet) bool { return a.TTL == b.TTL && sameValues(a.Values, b.Values) }) {
				t.Fatal("a refused batch changed the zone")
			}
			return
		}
		for k, rs := range z.records {
			if k.name != rs.Name || (rs.Name != "example.com." && !strings.HasSuffix(rs.Name, ".example.com.")) || len(rs.Values) == 0 {
				t.Fatalf("accepted batch left %+v under %+v", rs, k)
			}
		}
	})
}

// FuzzRoute checks that no method and path panics the router and that a
// routed request names an operation and an ID.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/2013-04-01/hostedzone/Z1/rrset", "/2013-04-01/change/C1", "/2013-04-01/hostedzone/Z1/", "/2013-04-01//", "/"} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		op, id, apiErr := route(method, path)
		if apiErr == nil && (op == "" || strings.Contains(id, "/")) {
			t.Fatalf("route(%q, %q) = %q, %q", method, path, op, id)
		}
	})
}
