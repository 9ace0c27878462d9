package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/haraft/haraft/proto/adminpb"
)

func TestPrintDNS(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *adminpb.DNSResponse
		want []string
	}{
		{"not configured", &adminpb.DNSResponse{AnsweredBy: "n1"}, []string{"no route53 section in n1's config"}},
		{"in sync", &adminpb.DNSResponse{AnsweredBy: "n2", Configured: true, Name: "lb.example.com.", HostedZoneId: "Z1",
			Desired: []string{"198.51.100.7", "198.51.100.8"}, DesiredTtl: 60, Term: 4, Reason: "holders changed",
			Actual: []string{"198.51.100.7", "198.51.100.8"}, ActualTtl: 60, ActualRead: true, InSync: true,
			LastChangeId: "/change/C1", LastChangeStatus: "INSYNC", Changes: 3, Errors: 1},
			[]string{"lb.example.com. A (zone Z1)", "198.51.100.7,198.51.100.8  ttl 60  (term 4: holders changed)",
				"198.51.100.7,198.51.100.8  ttl 60  in sync", "/change/C1 INSYNC", "changes 3, conflicts 0, errors 1 (answered by n2)"}},
		{"zone error", &adminpb.DNSResponse{Configured: true, Name: "lb.example.org.", Desired: []string{"198.51.100.7"}, DesiredTtl: 60,
			ZoneError: "route53: record lb.example.org. is outside hosted zone Z1", LastError: "same", ErrorKind: "zone"},
			[]string{"(not read yet)  NOT in sync", "zone error", "outside hosted zone Z1", "[zone] same"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printDNS(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
