package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

// splitServer parses BACKEND/SERVER.
func splitServer(s string) (backend, server string, err error) {
	backend, server, ok := strings.Cut(s, "/")
	if !ok || backend == "" || server == "" {
		return "", "", usagef("%q: name the server as BACKEND/SERVER, e.g. app/B", s)
	}
	return backend, server, nil
}

// completeServers completes BACKEND/SERVER from the node's backends.
func (a *app) completeServers(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ListBackendsResponse, error) {
		return c.ListBackends(ctx, &adminpb.ListBackendsRequest{})
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, b := range resp.Backends {
		for _, s := range b.Servers {
			out = append(out, b.Name+"/"+s.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func views(s *adminpb.Server) string {
	var parts []string
	for _, v := range s.Views {
		parts = append(parts, v.Node+":"+lower(v.Health.String(), "HEALTH_"))
	}
	return strings.Join(parts, " ")
}

// downReasons writes, under the table, why each node sees a server down:
// its last failed check ("connection refused", "timeout at step 2: ...").
func downReasons(w io.Writer, bs []*adminpb.Backend) error {
	for _, b := range bs {
		for _, s := range b.Servers {
			for _, v := range s.Views {
				if v.Health != adminpb.Health_HEALTH_DOWN || v.Detail == "" {
					continue
				}
				if _, err := fmt.Fprintf(w, "%s/%s down on %s: %s\n", b.Name, s.Name, v.Node, v.Detail); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (a *app) printServer(s *adminpb.Server) error {
	return a.emit(s, func(w io.Writer) error {
		t := newTable(w, "SERVER", "ADDR", "HEALTH", "ADMIN", "WEIGHT", "USABLE", "SESSIONS")
		t.row(s.Backend+"/"+s.Name, s.Addr, lower(s.Health.String(), "HEALTH_"), serverAdmin(s), strconv.Itoa(int(s.Weight)), yesNo(s.Usable), u(s.Sessions))
		if err := t.flush(); err != nil {
			return err
		}
		if s.DrainDeadlineUnixMs != 0 {
			_, err := fmt.Fprintf(w, "connections still open are closed at %s\n", time.UnixMilli(s.DrainDeadlineUnixMs).UTC().Format(time.RFC3339))
			return err
		}
		return nil
	})
}

func serverAdmin(s *adminpb.Server) string {
	if s.Removed {
		return "removed"
	}
	return lower(s.Admin.String(), "ADMIN_")
}

func (a *app) backendsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "backends [BACKEND]",
		Short: "List servers with agreed health, each node's view (and why a node sees one down), admin state, weight and sessions",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminpb.ListBackendsRequest{}
			if len(args) == 1 {
				req.Backend = args[0]
			}
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ListBackendsResponse, error) {
				return c.ListBackends(ctx, req)
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				t := newTable(w, "BACKEND", "SERVER", "ADDR", "HEALTH", "NODE VIEWS", "ADMIN", "WEIGHT", "USABLE", "SESSIONS", "REQUESTS", "FAILURES", "ACTIVE")
				for _, b := range resp.Backends {
					for _, s := range b.Servers {
						weight := strconv.Itoa(int(s.Weight))
						if s.WeightOverridden {
							weight += "*"
						}
						name := s.Name
						if s.Dynamic {
							name += " (added)"
						}
						t.row(b.Name, name, s.Addr, lower(s.Health.String(), "HEALTH_"), views(s), serverAdmin(s), weight, yesNo(s.Usable), u(s.Sessions),
							u(s.Requests), u(s.Failures), strconv.FormatInt(s.Active, 10))
					}
				}
				if err := t.flush(); err != nil {
					return err
				}
				return downReasons(w, resp.Backends)
			})
		},
	}
}

var adminStates = map[string]adminpb.AdminState{
	"ready": adminpb.AdminState_ADMIN_READY,
	"drain": adminpb.AdminState_ADMIN_DRAIN,
	"maint": adminpb.AdminState_ADMIN_MAINT,
}

var stateHelp = map[string]string{
	"ready": "Let a server take new sessions again",
	"drain": "Drain a server: its sessions stay, new ones go elsewhere",
	"maint": "Put a server in maintenance: nothing goes there, its sessions move",
}

// stateCommand is ready, drain or maint (HAProxy's "set server state").
func (a *app) stateCommand(name string) *cobra.Command {
	var deadline time.Duration
	cmd := &cobra.Command{
		Use:               name + " BACKEND/SERVER",
		Short:             stateHelp[name],
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, s, err := splitServer(args[0])
			if err != nil {
				return err
			}
			if deadline < 0 {
				return usagef("--deadline %v: want a positive duration (e.g. 5m)", deadline)
			}
			req := &adminpb.SetServerAdminRequest{Backend: b, Server: s, Admin: adminStates[name], DrainDeadlineMs: deadline.Milliseconds()}
			if deadline > 0 && req.DrainDeadlineMs == 0 {
				req.DrainDeadlineMs = 1
			}
			srv, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Server, error) {
				return c.SetServerAdmin(ctx, req)
			})
			if err != nil {
				return err
			}
			return a.printServer(srv)
		},
	}
	if name == "drain" {
		cmd.Long = `Drain a server: it takes no new connection or session; the sessions
bound to it stay, and so do its open connections, until they end, or,
with --deadline, until the deadline: then every node closes the
connections still open to it (mode tcp connections, WebSocket tunnels and
idle pooled server connections) and counts them in
haraft_server_connections_closed_total{reason="drain_deadline"}.
Draining again, ready or maint clears the deadline.`
		cmd.Example = "  haraftctl drain app/B\n  haraftctl drain game/g1 --deadline 5m"
		cmd.Flags().DurationVar(&deadline, "deadline", 0, "close the connections still open to the server after this long (e.g. 5m; default: never)")
	}
	return cmd
}

func (a *app) weightCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "weight BACKEND/SERVER WEIGHT|configured",
		Short:             "Set a server's weight (0..256) or go back to the configured one",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: a.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, s, err := splitServer(args[0])
			if err != nil {
				return err
			}
			req := &adminpb.SetServerWeightRequest{Backend: b, Server: s}
			if args[1] == "configured" {
				req.UseConfigured = true
			} else {
				w, err := strconv.Atoi(args[1])
				if err != nil {
					return usagef("weight %q: want a number 0..256 or \"configured\"", args[1])
				}
				req.Weight = int32(w)
			}
			srv, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Server, error) {
				return c.SetServerWeight(ctx, req)
			})
			if err != nil {
				return err
			}
			return a.printServer(srv)
		},
	}
}

func (a *app) serverCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "server", Short: "Add or remove servers at run time (every node agrees)", Args: cobra.NoArgs}
	var weight int
	var cookie string
	add := &cobra.Command{
		Use:   "add BACKEND/SERVER HOST:PORT",
		Short: "Add a server to a backend",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, s, err := splitServer(args[0])
			if err != nil {
				return err
			}
			srv, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Server, error) {
				return c.AddServer(ctx, &adminpb.AddServerRequest{Backend: b, Server: s, Addr: args[1], Cookie: cookie, Weight: int32(weight)})
			})
			if err != nil {
				return err
			}
			return a.printServer(srv)
		},
	}
	add.Flags().IntVar(&weight, "weight", 1, "weight 1..256")
	add.Flags().StringVar(&cookie, "cookie", "", "cookie value naming the server (default: its name)")
	remove := &cobra.Command{
		Use:               "remove BACKEND/SERVER",
		Short:             "Remove a server; its sessions move as if it were down",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeServers,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, s, err := splitServer(args[0])
			if err != nil {
				return err
			}
			srv, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Server, error) {
				return c.RemoveServer(ctx, &adminpb.RemoveServerRequest{Backend: b, Server: s})
			})
			if err != nil {
				return err
			}
			return a.printServer(srv)
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}
