package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) printSessions(m *adminpb.ListSessionsResponse) error {
	return a.emit(m, func(w io.Writer) error {
		t := newTable(w, "BACKEND", "KEY", "SERVER", "CREATED", "LEARNED BY")
		for _, s := range m.Sessions {
			t.row(s.Backend, s.Key, s.Server, unixMs(s.CreatedUnixMs), s.LearnedBy)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if m.NextPageToken != "" {
			fmt.Fprintf(a.stderr, "more sessions: --page-token %s\n", m.NextPageToken)
		}
		if masked(m.Sessions) {
			fmt.Fprintln(a.stderr, "keys are masked (h:…, a keyed hash): listing full keys needs a write token; `sessions get KEY` finds a key you hold")
		}
		return nil
	})
}

func (a *app) sessionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "Inspect and change session bindings", Args: cobra.NoArgs}
	var backend string
	addBackend := func(c *cobra.Command) {
		c.Flags().StringVarP(&backend, "backend", "b", "", "backend (optional when the cookie value is bound in one backend)")
	}

	count := &cobra.Command{
		Use:   "count",
		Short: "Count bound sessions per server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.CountSessionsResponse, error) {
				return c.CountSessions(ctx, &adminpb.CountSessionsRequest{Backend: backend})
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				t := newTable(w, "BACKEND", "SERVER", "SESSIONS")
				for _, c := range resp.ByServer {
					t.row(c.Backend, c.Server, u(c.Sessions))
				}
				t.row("total", "", u(resp.Total))
				return t.flush()
			})
		},
	}
	addBackend(count)

	get := &cobra.Command{
		Use:   "get COOKIE_VALUE",
		Short: "Look a session up by its cookie value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Session, error) {
				return c.GetSession(ctx, &adminpb.GetSessionRequest{Backend: backend, Key: args[0]})
			})
			if err != nil {
				return err
			}
			return a.emit(s, func(w io.Writer) error {
				return a.printSessions(&adminpb.ListSessionsResponse{Sessions: []*adminpb.Session{s}})
			})
		},
	}
	addBackend(get)

	var server, pageToken string
	var limit, pageSize int
	list := &cobra.Command{
		Use:   "list",
		Short: "List sessions in (backend, key) order, page by page",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := &adminpb.ListSessionsResponse{}
			token := pageToken
			for {
				size := pageSize
				if limit > 0 {
					size = min(size, limit-len(out.Sessions))
				}
				resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.ListSessionsResponse, error) {
					return c.ListSessions(ctx, &adminpb.ListSessionsRequest{Backend: backend, Server: server, PageSize: int32(size), PageToken: token})
				})
				if err != nil {
					return err
				}
				out.Sessions = append(out.Sessions, resp.Sessions...)
				out.NextPageToken = resp.NextPageToken
				token = resp.NextPageToken
				if token == "" || (limit > 0 && len(out.Sessions) >= limit) {
					break
				}
			}
			return a.printSessions(out)
		},
	}
	addBackend(list)
	list.Flags().StringVar(&server, "server", "", "only sessions bound to this server")
	list.Flags().IntVar(&limit, "limit", 100, "stop after this many sessions (0: all)")
	list.Flags().IntVar(&pageSize, "page-size", 1000, "sessions per call, 1..10000")
	list.Flags().StringVar(&pageToken, "page-token", "", "continue where a previous list stopped")

	del := &cobra.Command{
		Use:   "delete COOKIE_VALUE",
		Short: "Forget a session's binding (its next request is balanced and learned again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.DeleteSessionResponse, error) {
				return c.DeleteSession(ctx, &adminpb.DeleteSessionRequest{Backend: backend, Key: args[0]})
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "deleted session %s\n", args[0])
				return err
			})
		},
	}
	addBackend(del)

	rebind := &cobra.Command{
		Use:   "rebind COOKIE_VALUE SERVER",
		Short: "Bind a session to another server of its backend",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.Session, error) {
				return c.RebindSession(ctx, &adminpb.RebindSessionRequest{Backend: backend, Key: args[0], Server: args[1]})
			})
			if err != nil {
				return err
			}
			return a.emit(s, func(w io.Writer) error {
				return a.printSessions(&adminpb.ListSessionsResponse{Sessions: []*adminpb.Session{s}})
			})
		},
	}
	addBackend(rebind)

	cmd.AddCommand(count, get, list, del, rebind)
	return cmd
}

// masked reports whether every key listed is masked, as the admin API
// shows keys to a read token (h: and 12 hex digits).
func masked(ss []*adminpb.Session) bool {
	for _, s := range ss {
		if !strings.HasPrefix(s.Key, "h:") || len(s.Key) != 14 {
			return false
		}
	}
	return len(ss) > 0
}
