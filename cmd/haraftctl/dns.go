package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) dnsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "dns",
		Short: "Show the Route 53 record: the committed values (desired) against Route 53's (actual), the last change and errors",
		Long: `dns asks the leader, which keeps the route53 section's A record equal to the
Elastic IPs that have a live, ready holder: desired is the value set the
leader committed through Raft, actual is the record as it last read it from
Route 53. A record that keeps an address with no ready holder says why
(the record is never emptied); a hosted zone that does not exist or does
not hold the name is shown as a zone error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.DNSResponse, error) {
				return c.DNS(ctx, &adminpb.DNSRequest{})
			})
			if err != nil {
				return err
			}
			return a.emit(r, func(w io.Writer) error { return printDNS(w, r) })
		},
	}
}

func printDNS(w io.Writer, r *adminpb.DNSResponse) error {
	if !r.Configured {
		_, err := fmt.Fprintf(w, "no route53 section in %s's config: no DNS record is kept\n", r.AnsweredBy)
		return err
	}
	values := func(v []string, ttl int64) string {
		if len(v) == 0 {
			return "(none)"
		}
		return fmt.Sprintf("%s  ttl %d", strings.Join(v, ","), ttl)
	}
	actual := values(r.Actual, r.ActualTtl)
	if !r.ActualRead {
		actual = "(not read yet)"
	}
	sync := "in sync"
	if !r.InSync {
		sync = "NOT in sync"
	}
	t := newTable(w, "FIELD", "VALUE")
	t.row("record", fmt.Sprintf("%s A (zone %s)", r.Name, r.HostedZoneId))
	t.row("desired", fmt.Sprintf("%s  (term %d: %s)", values(r.Desired, r.DesiredTtl), r.Term, r.Reason))
	t.row("actual", actual+"  "+sync)
	if r.LastChangeId != "" {
		t.row("last change", r.LastChangeId+" "+r.LastChangeStatus)
	}
	if r.Waiting != "" {
		t.row("waiting", r.Waiting)
	}
	if r.ZoneError != "" {
		t.row("zone error", r.ZoneError)
	}
	if r.LastError != "" {
		t.row("last error", "["+r.ErrorKind+"] "+r.LastError)
	}
	t.row("counters", fmt.Sprintf("changes %d, conflicts %d, errors %d (answered by %s)", r.Changes, r.Conflicts, r.Errors, r.AnsweredBy))
	return t.flush()
}
