package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) reloadCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the node's config file and apply what changed, without dropping connections (as SIGHUP)",
		Long: `reload makes the node read its config file again and apply its frontends,
backends, servers, checks and timeouts live. A file that fails validation or
changes what needs a restart (node, raft, http, admin, eips, ...) is refused
with file:line: field: reason, and the node keeps its running config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ReloadResponse, error) {
				return c.Reload(ctx, &adminpb.ReloadRequest{})
			})
			if err != nil {
				return err
			}
			return a.emit(r, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "reloaded (config %s): %s\n", r.ConfigHash, r.Summary)
				return err
			})
		},
	}
}
