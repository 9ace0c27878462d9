package fsm

import (
	"cmp"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func cloneDNSRecord(r *fsmpb.DNSRecord) *fsmpb.DNSRecord { return proto.Clone(r).(*fsmpb.DNSRecord) }

// applySetDNSRecord records the leader's decision for a DNS record. A
// decision stamped with an older term than the recorded one comes from a
// deposed leader and is refused, as for EIPs; an empty value set is
// refused, since the record is never emptied.
func (s *State) applySetDNSRecord(m *fsmpb.SetDNSRecord) *fsmpb.ApplyResult {
	if m.Record == nil || m.Record.Id == "" {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "set_dns_record: record id is required"}
	}
	if len(m.Record.Values) == 0 {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: fmt.Sprintf("set_dns_record %s: no values", m.Record.Id)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.dns[m.Record.Id]; ok && m.Record.Term < cur.Term {
		return &fsmpb.ApplyResult{ErrorCode: "stale_term", Error: fmt.Sprintf("set_dns_record %s: term %d is older than recorded term %d", m.Record.Id, m.Record.Term, cur.Term)}
	}
	s.dns[m.Record.Id] = cloneDNSRecord(m.Record)
	return &fsmpb.ApplyResult{}
}

// DNSRecords returns copies of the DNS record decisions, sorted by id.
func (s *State) DNSRecords() []*fsmpb.DNSRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*fsmpb.DNSRecord, 0, len(s.dns))
	for _, r := range s.dns {
		out = append(out, cloneDNSRecord(r))
	}
	slices.SortFunc(out, func(a, b *fsmpb.DNSRecord) int { return cmp.Compare(a.Id, b.Id) })
	return out
}
