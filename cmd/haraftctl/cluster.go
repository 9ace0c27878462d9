package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/adminpb"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's state, leader, term and log indexes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.StatusResponse, error) {
				return c.Status(ctx, &adminpb.StatusRequest{})
			})
			if err != nil {
				return err
			}
			return a.emit(st, func(w io.Writer) error {
				t := newTable(w, "FIELD", "VALUE")
				t.row("node", st.NodeId)
				t.row("az", st.Az)
				t.row("state", st.State)
				t.row("leader", st.LeaderId+" "+st.LeaderAddr)
				t.row("term", u(st.Term))
				t.row("commit index", u(st.CommitIndex))
				t.row("applied index", u(st.AppliedIndex))
				t.row("last log index", u(st.LastLogIndex))
				t.row("ready", yesNo(st.Ready))
				t.row("sessions", u(st.Sessions))
				t.row("leader contact", ms(st.LastLeaderContactMs))
				t.row("raft addr", st.RaftAddr)
				t.row("admin addr", st.AdminAddr)
				for _, f := range st.Frontends {
					t.row("frontend "+f.Name, fmt.Sprintf("%s -> %s: %d requests, %d errors, %d redispatches, %d learned", f.Bind, f.Backend, f.Requests, f.Errors, f.Redispatches, f.Learned))
				}
				if l := st.Learner; l != nil {
					t.row("learner", fmt.Sprintf("%d queued, %d committed, %d conflicts, %d dropped, %d failed in %d batches", l.Queued, l.Committed, l.Conflicts, l.Dropped, l.Failed, l.Batches))
				}
				return t.flush()
			})
		},
	}
}

func (a *app) membersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the Raft members (consul members / consul operator raft list-peers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.MembersResponse, error) {
				return c.Members(ctx, &adminpb.MembersRequest{})
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				t := newTable(w, "ID", "ADDRESS", "SUFFRAGE", "ROLE", "AZ", "ADMIN", "LAST CONTACT", "REGISTERED")
				for _, m := range resp.Members {
					role := "follower"
					if m.Leader {
						role = "leader"
					}
					t.row(m.Id, m.Address, m.Suffrage, role, m.Az, m.AdminAddr, ms(m.LastContactMs), yesNo(m.Registered))
				}
				return t.flush()
			})
		},
	}
	var nonvoter, force bool
	join := &cobra.Command{
		Use:   "join ID RAFT_ADDR",
		Short: "Add a node to the Raft configuration (on the leader)",
		Long: `join adds node ID, whose cluster port (raft.advertise) is RAFT_ADDR, to the
Raft configuration. The leader first checks that haraft node ID answers at
RAFT_ADDR: it connects as every cluster connection does (with raft.tls, the
TLS handshake with the cluster CA and a certificate naming ID) and pings
the node's internal service. A port with nothing listening, another
service, or another node's certificate is refused and nothing is proposed:
a member that never answers counts against the quorum at once.

--force skips that check, to add a node that is not up yet (say, one whose
start needs the configuration to hold it). Until it answers, the cluster
tolerates one failure less.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.JoinResponse, error) {
				return c.Join(ctx, &adminpb.JoinRequest{Id: args[0], Address: args[1], Nonvoter: nonvoter, Force: force})
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s joined at %s (configuration index %d)\n", args[0], args[1], resp.Index)
				return err
			})
		},
	}
	join.Flags().BoolVar(&nonvoter, "nonvoter", false, "join as a nonvoter (receives the log, does not vote)")
	join.Flags().BoolVar(&force, "force", false, "add the member without checking that the node answers at RAFT_ADDR (a node not up yet)")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the Raft configuration (on the leader)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.RemoveResponse, error) {
				return c.Remove(ctx, &adminpb.RemoveRequest{Id: args[0]})
			})
			if status.Code(err) == codes.NotFound && a.retried {
				// The attempt cut short by the leader change took effect.
				_, err = fmt.Fprintf(a.stdout, "%s removed (by the attempt interrupted by a leader change)\n", args[0])
				return err
			}
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s removed (configuration index %d)\n", args[0], resp.Index)
				return err
			})
		},
	}
	cmd.AddCommand(join, remove)
	return cmd
}

func (a *app) leaderCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "leader", Short: "Leadership", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "transfer [ID]",
		Short: "Hand leadership to another voter (any up-to-date one without ID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			to := ""
			if len(args) == 1 {
				to = args[0]
			}
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.TransferLeadershipResponse, error) {
				return c.TransferLeadership(ctx, &adminpb.TransferLeadershipRequest{ToId: to})
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "leader is now %s\n", resp.LeaderId)
				return err
			})
		},
	})
	return cmd
}

const snapshotMagic = "haraft-snapshot v1\n"

func (a *app) snapshotCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save or restore the cluster's state (consul snapshot save/restore)", Args: cobra.NoArgs}
	cmd.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Save a snapshot of the leader's state to FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, hdr, err := a.snapshotSave(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.output == "json" {
				// The header is the snapshot's own JSON line.
				out := struct {
					File     string          `json:"file"`
					Bytes    int64           `json:"bytes"`
					Snapshot json.RawMessage `json:"snapshot"`
				}{args[0], n, json.RawMessage(hdr)}
				if !json.Valid(out.Snapshot) {
					out.Snapshot, _ = json.Marshal(hdr)
				}
				b, err := json.MarshalIndent(out, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", b)
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "saved %s (%d bytes): %s\n", args[0], n, hdr)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's whole state with a saved snapshot",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if !bytes.HasPrefix(data, []byte(snapshotMagic)) {
				return usagef("%s is not a haraft snapshot (made by `haraftctl snapshot save`)", args[0])
			}
			resp, err := call(cmd.Context(), a, func(ctx context.Context, c adminpb.AdminClient) (*adminpb.SnapshotRestoreResponse, error) {
				st, err := c.SnapshotRestore(ctx)
				if err != nil {
					return nil, err
				}
				for rest := data; len(rest) > 0; {
					n := min(len(rest), 256<<10)
					if err := st.Send(&adminpb.SnapshotChunk{Data: rest[:n]}); err != nil {
						if errors.Is(err, io.EOF) {
							break // the server ended the call: CloseAndRecv has its status
						}
						return nil, err
					}
					rest = rest[n:]
				}
				return st.CloseAndRecv()
			})
			if err != nil {
				return err
			}
			return a.emit(resp, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "restored %s: snapshot index %d, %d sessions\n", args[0], resp.Index, resp.Sessions)
				return err
			})
		},
	})
	return cmd
}

// snapshotSave streams a snapshot into path (through a temporary file, so
// a failed save leaves no partial file) and returns its size and header.
func (a *app) snapshotSave(ctx context.Context, path string) (int64, string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, "", usagef("%v", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := call(ctx, a, func(ctx context.Context, c adminpb.AdminClient) (int64, error) {
		st, err := c.SnapshotSave(ctx, &adminpb.SnapshotSaveRequest{})
		if err != nil {
			return 0, err
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		if err := tmp.Truncate(0); err != nil {
			return 0, err
		}
		var n int64
		for {
			ch, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return 0, err
			}
			w, err := tmp.Write(ch.Data)
			if err != nil {
				return 0, err
			}
			n += int64(w)
		}
	})
	if err != nil {
		return 0, "", err
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	br := bufio.NewReader(tmp)
	magic, _ := br.ReadString('\n')
	hdr, _ := br.ReadString('\n')
	if magic != snapshotMagic {
		return 0, "", status.Error(codes.Internal, "the node sent something that is not a haraft snapshot")
	}
	if err := tmp.Close(); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, "", err
	}
	return n, strings.TrimSpace(hdr), nil
}
