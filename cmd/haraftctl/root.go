package main

import (
	"github.com/spf13/cobra"

	"github.com/haraft/haraft/internal/version"
)

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "haraftctl",
		Short: "Operate a haraft cluster through any node's admin API",
		Long: `haraftctl calls the admin API (gRPC, haraft.admin.v1.Admin) of a haraft node.
Any node answers: reads come from its replicated state, writes are committed
through the Raft leader, and calls only the leader can take are retried there.

Connection settings come from flags or the environment:
  HARAFT_ADDR        admin address (default ` + defaultAddr + `, node 1 of haraftd -dev)
  HARAFT_TOKEN       bearer token (or HARAFT_TOKEN_FILE); read tokens list, write tokens change
  HARAFT_CA          CA of the node's certificate (turns TLS on)
  HARAFT_CERT/KEY    client certificate for mutual TLS

Exit codes: 0 ok, 1 error, 2 usage or invalid argument, 3 not authenticated or
not allowed (token or TLS), 4 not found, 5 cluster unavailable (retry),
6 refused in the current state.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String("haraftctl"),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	a.bindGlobalFlags(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		a.usageErr = true
		return err
	})
	root.AddCommand(
		a.statusCommand(), a.membersCommand(), a.leaderCommand(), a.snapshotCommand(),
		a.backendsCommand(), a.stateCommand("ready"), a.stateCommand("drain"), a.stateCommand("maint"),
		a.weightCommand(), a.serverCommand(),
		a.sessionsCommand(), a.eipsCommand(), a.eipCommand(), a.dnsCommand(), a.watchCommand(), a.reloadCommand(), a.logCommand(),
	)
	// Arguments errors of every command are usage errors (exit 2).
	var mark func(c *cobra.Command)
	mark = func(c *cobra.Command) {
		if c.Args != nil {
			args := c.Args
			c.Args = func(cmd *cobra.Command, s []string) error {
				if err := args(cmd, s); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			mark(sub)
		}
	}
	mark(root)
	return root
}
