package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) printEIPs(m *adminpb.ListEIPsResponse) error {
	return a.emit(m, func(w io.Writer) error {
		t := newTable(w, "EIP", "ADDRESS", "HOME AZ", "DESIRED", "ACTUAL", "PINNED", "TERM", "MOVED", "REASON")
		for _, e := range m.Eips {
			t.row(e.Id, e.Address, e.HomeAz, e.DesiredHolder, strings.Join(e.ActualHolders, ","), yesNo(e.Pinned), u(e.Term), unixMs(e.MovedUnixMs), e.Reason)
		}
		return t.flush()
	})
}

func (a *app) eipsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "eips",
		Short: "List the Elastic IPs: desired and actual holder, home AZ, last move and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ListEIPsResponse, error) {
				return c.ListEIPs(ctx, &adminpb.ListEIPsRequest{})
			})
			if err != nil {
				return err
			}
			return a.printEIPs(resp)
		},
	}
}

func (a *app) eipCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "eip", Short: "Move, pin or unpin an Elastic IP", Args: cobra.NoArgs}
	var reason string
	var pin bool
	move := &cobra.Command{
		Use:   "move EIP NODE",
		Short: "Decide that NODE holds EIP (the movers carry it out)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.EIP, error) {
				return c.MoveEIP(ctx, &adminpb.MoveEIPRequest{Id: args[0], Node: args[1], Reason: reason, Pin: pin})
			})
			if err != nil {
				return err
			}
			return a.emit(e, func(io.Writer) error { return a.printEIPs(&adminpb.ListEIPsResponse{Eips: []*adminpb.EIP{e}}) })
		},
	}
	move.Flags().StringVar(&reason, "reason", "", "why (recorded with the move)")
	move.Flags().BoolVar(&pin, "pin", false, "also pin it there")
	pinCmd := func(name string, pinned bool) *cobra.Command {
		return &cobra.Command{
			Use:   name + " EIP",
			Short: map[bool]string{true: "Pin an EIP to its holder: placement leaves it alone", false: "Unpin an EIP: placement may move it again"}[pinned],
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				e, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.EIP, error) {
					return c.PinEIP(ctx, &adminpb.PinEIPRequest{Id: args[0], Pinned: pinned})
				})
				if err != nil {
					return err
				}
				return a.emit(e, func(io.Writer) error { return a.printEIPs(&adminpb.ListEIPsResponse{Eips: []*adminpb.EIP{e}}) })
			},
		}
	}
	cmd.AddCommand(move, pinCmd("pin", true), pinCmd("unpin", false))
	return cmd
}

var eventTypes = map[string]adminpb.EventType{
	"leader":     adminpb.EventType_EVENT_LEADER_CHANGED,
	"health":     adminpb.EventType_EVENT_SERVER_HEALTH,
	"server":     adminpb.EventType_EVENT_SERVER_CHANGED,
	"eip":        adminpb.EventType_EVENT_EIP_MOVED,
	"joined":     adminpb.EventType_EVENT_NODE_JOINED,
	"left":       adminpb.EventType_EVENT_NODE_LEFT,
	"registered": adminpb.EventType_EVENT_NODE_REGISTERED,
}

func (a *app) watchCommand() *cobra.Command {
	var replay bool
	var types []string
	var count int
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream cluster events: leader changes, health, server changes, EIP moves, members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &adminpb.WatchRequest{Replay: replay}
			for _, t := range types {
				et, ok := eventTypes[t]
				if !ok {
					return usagef("--type %q: use leader, health, server, eip, joined, left or registered", t)
				}
				req.Types = append(req.Types, et)
			}
			if a.output != "table" && a.output != "json" {
				return usagef("-o %q: use table or json", a.output)
			}
			ctx, cancel, err := a.callCtx(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer cancel()
			c, err := a.dial(a.addr)
			if err != nil {
				return err
			}
			st, err := c.Watch(ctx, req)
			if err != nil {
				return err
			}
			for n := 0; count == 0 || n < count; n++ {
				e, err := st.Recv()
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil // Ctrl-C
					}
					return err
				}
				if a.output == "json" {
					err = printJSONLine(a.stdout, e)
				} else {
					_, err = fmt.Fprintf(a.stdout, "%s  %-10s %s\n", unixMs(e.UnixMs), eventName(e.Type), e.Message)
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&replay, "replay", false, "first print the node's recent events")
	cmd.Flags().StringSliceVar(&types, "type", nil, "only these event types (leader, health, server, eip, joined, left, registered)")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (0: until interrupted)")
	return cmd
}

func eventName(t adminpb.EventType) string {
	for k, v := range eventTypes {
		if v == t {
			return k
		}
	}
	return lower(t.String(), "EVENT_")
}
