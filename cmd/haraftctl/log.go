package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) logCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "The node's access log", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "reopen",
		Short: "Reopen the node's access log file, as SIGUSR1 does (logrotate's postrotate)",
		Long: `reopen makes the node called (--addr) close its access log target and open
it again: after logrotate renamed access.log, the node writes a new
access.log at the configured path. It needs a write token. Only that node
reopens its log; call it on each node whose log was rotated, e.g. in
logrotate's postrotate:

  postrotate
    haraftctl --addr 127.0.0.1:9201 log reopen
  endscript

With the access log off it does nothing and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ReopenLogsResponse, error) {
				return c.ReopenLogs(ctx, &adminpb.ReopenLogsRequest{})
			})
			if err != nil {
				return err
			}
			return a.emit(r, func(w io.Writer) error {
				if r.Target == "" {
					_, err := fmt.Fprintf(w, "%s: the access log is off, nothing to reopen\n", r.NodeId)
					return err
				}
				_, err := fmt.Fprintf(w, "%s: access log %s reopened (%d reopens since start)\n", r.NodeId, r.Target, r.Reopens)
				return err
			})
		},
	})
	return cmd
}
