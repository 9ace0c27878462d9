package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover"
	"github.com/haraft/haraft/proto/adminpb"
)

// The Route 53 record (config route53): the record's reconciler is a
// leader loop (eipmover.DNSController: commit the values with the term,
// VerifyLeader, fenced replace). Before
// a member is removed its addresses leave the record (dnsBeforeRemove).

// newRoute53 builds the record's writer with the SDK's normal credential
// chain, as the EC2 mover gets its credentials.
func newRoute53(ctx context.Context, r *config.Route53, d *Daemon) (*eipmover.Route53, error) {
	cfg := eipmover.Route53Config{HostedZoneID: r.HostedZoneID, Name: r.Name, Region: r.Region, Endpoint: r.Endpoint}
	if d != nil {
		cfg.Logger = d.log
	}
	return eipmover.NewRoute53(ctx, cfg)
}

// CheckRoute53 asks Route 53 whether the hosted zone of cfg's route53
// section exists and holds the record's name (haraftd -check). The error
// wraps eipmover.ErrBadZone when Route 53 answered that it does not;
// any other error means the check could not be made (no credentials, no
// network). Nil without a route53 section.
func CheckRoute53(ctx context.Context, cfg *config.Config) error {
	if cfg.Route53 == nil {
		return nil
	}
	w, err := newRoute53(ctx, cfg.Route53, nil)
	if err != nil {
		return err
	}
	return w.CheckZone(ctx)
}

// startDNS builds the record's reconciler, which startLeaderLoops then
// registers; startEIP ran before (it makes the liveness tracker).
func (d *Daemon) startDNS() error {
	r := d.cfg.Route53
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	w, err := newRoute53(ctx, r, d)
	if err != nil {
		return fmt.Errorf("%s: route53: %w", d.cfg.File, err)
	}
	var eips []eipmover.EIP
	for _, e := range d.cfg.RecordEIPs() {
		eips = append(eips, eipmover.EIP{ID: e.ID, Address: e.Address, HomeAZ: e.HomeAZ})
	}
	ctrl, err := eipmover.NewDNSController(eipmover.DNSConfig{Node: d.node, Liveness: d.liveness, Writer: w, ZoneID: r.ZoneID(),
		TTL: r.TTL, EIPs: eips, ReconcileInterval: r.ReconcileInterval.Duration, Logger: d.log})
	if err != nil {
		return fmt.Errorf("%s: route53: %w", d.cfg.File, err)
	}
	d.dns = ctrl // a leader loop (leaderloops.go)
	return nil
}

// DNS returns the record's reconciler, nil without a route53 section.
func (d *Daemon) DNS() *eipmover.DNSController { return d.dns }

// dnsBeforeRemove takes a member's addresses out of the record, and waits
// for Route 53 to accept the change, before the member is removed (and
// so before its addresses move). When they are the only addresses with a
// ready holder the record keeps them (it is never emptied) and the
// removal goes on.
func (d *Daemon) dnsBeforeRemove(ctx context.Context, id string) (func(), error) {
	release, err := d.dns.Withdraw(ctx, id)
	switch {
	case errors.Is(err, eipmover.ErrRecordKept):
		d.log.Warn("dns: removing a member whose addresses stay in the record: no other address has a ready holder", "member", id, "err", err)
		return release, nil
	case err != nil:
		release()
		return func() {}, fmt.Errorf("the Route 53 record could not drop its addresses first (retry once Route 53 answers): %w", err)
	}
	d.log.Info("dns: the member's addresses left the record before its removal", "member", id, "record", d.dns.Status().Actual.String())
	return release, nil
}

// DNSStatus is the record's state as /status serves it.
type DNSStatus struct {
	Name             string            `json:"name"`
	HostedZoneID     string            `json:"hosted_zone_id"`
	Leader           bool              `json:"leader"` // this node reconciles the record now: actual and errors are its view
	Desired          []string          `json:"desired"`
	DesiredTTL       int64             `json:"desired_ttl"`
	Term             uint64            `json:"term"`
	Reason           string            `json:"reason,omitempty"`
	Actual           []string          `json:"actual"`
	ActualTTL        int64             `json:"actual_ttl"`
	ActualRead       bool              `json:"actual_read"`
	InSync           bool              `json:"in_sync"`
	Waiting          string            `json:"waiting,omitempty"`
	LastChangeID     string            `json:"last_change_id,omitempty"`
	LastChangeStatus string            `json:"last_change_status,omitempty"`
	LastError        string            `json:"last_error,omitempty"`
	ErrorKind        string            `json:"error_kind,omitempty"`
	ZoneError        string            `json:"zone_error,omitempty"`
	Changes          uint64            `json:"changes"`
	Conflicts        uint64            `json:"conflicts"`
	Errors           map[string]uint64 `json:"errors"`
}

// dnsStatus returns the record's state; nil without a route53 section. The
// desired values are the committed decision, on every node; the rest is
// this node's reconciler's view (meaningful on the leader).
func (d *Daemon) dnsStatus() *DNSStatus {
	if d.dns == nil {
		return nil
	}
	st := d.dns.Status()
	c := d.dns.Counters()
	out := &DNSStatus{Name: st.Name, HostedZoneID: d.cfg.Route53.ZoneID(), Leader: d.node.IsLeader(),
		Desired: st.Desired.Values, DesiredTTL: st.Desired.TTL, Term: st.Term, Reason: st.Reason,
		Actual: st.Actual.Values, ActualTTL: st.Actual.TTL, ActualRead: st.Read, InSync: st.InSync, Waiting: st.Waiting,
		LastChangeID: st.LastChange, LastChangeStatus: st.LastChangeStatus, LastError: st.LastError, ErrorKind: st.ErrorKind,
		ZoneError: st.ZoneError, Changes: c.Changes.Load(), Conflicts: c.Conflicts.Load(), Errors: c.ErrorsByKind()}
	for _, r := range d.fsm.DNSRecords() {
		if r.Id == d.dns.ID() {
			out.Desired, out.DesiredTTL, out.Term, out.Reason = r.Values, r.Ttl, r.Term, r.Reason
		}
	}
	return out
}

// dnsResponse is dnsStatus for the admin API (haraftctl dns).
func (d *Daemon) dnsResponse() *adminpb.DNSResponse {
	s := d.dnsStatus()
	var errs uint64
	for _, n := range s.Errors {
		errs += n
	}
	return &adminpb.DNSResponse{Name: s.Name, HostedZoneId: s.HostedZoneID, Desired: s.Desired, DesiredTtl: s.DesiredTTL, Term: s.Term,
		Reason: s.Reason, Actual: s.Actual, ActualTtl: s.ActualTTL, ActualRead: s.ActualRead, InSync: s.InSync, Waiting: s.Waiting,
		LastChangeId: s.LastChangeID, LastChangeStatus: s.LastChangeStatus, LastError: s.LastError, ErrorKind: s.ErrorKind,
		ZoneError: s.ZoneError, Changes: s.Changes, Conflicts: s.Conflicts, Errors: errs}
}
