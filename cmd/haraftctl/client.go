package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/proto/adminpb"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitAuth        = 3
	exitNotFound    = 4
	exitUnavailable = 5
	exitRefused     = 6
)

// defaultAddr is node 1 of `haraftd -dev`.
const defaultAddr = "127.0.0.1:9201"

// notLeaderReason and errorDomain match the server's ErrorInfo.
const (
	notLeaderReason = "NOT_LEADER"
	errorDomain     = "haraft.admin.v1"
)

// app holds one invocation's flags and connection.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	addr, token, tokenFile string
	ca, cert, key, srvName string
	useTLS                 bool
	output                 string
	timeout                time.Duration
	conns                  []*grpc.ClientConn
	tlsConf                *tls.Config // of the last dial, for diagnosing failures
	usageErr               bool
	retried                bool // a call was retried after an attempt that may have taken effect
}

func (a *app) envOr(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

// usageError marks an error as the caller's (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func (a *app) bindGlobalFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&a.addr, "addr", a.envOr("HARAFT_ADDR", defaultAddr), "admin address of any node (env HARAFT_ADDR)")
	f.StringVar(&a.token, "token", a.getenv("HARAFT_TOKEN"), "bearer token (env HARAFT_TOKEN)")
	f.StringVar(&a.tokenFile, "token-file", a.getenv("HARAFT_TOKEN_FILE"), "file holding the bearer token (env HARAFT_TOKEN_FILE)")
	f.StringVar(&a.ca, "ca", a.getenv("HARAFT_CA"), "CA certificate that signed the node's certificate; turns TLS on (env HARAFT_CA)")
	f.StringVar(&a.cert, "cert", a.getenv("HARAFT_CERT"), "client certificate for mutual TLS (env HARAFT_CERT)")
	f.StringVar(&a.key, "key", a.getenv("HARAFT_KEY"), "client key for mutual TLS (env HARAFT_KEY)")
	f.StringVar(&a.srvName, "tls-server-name", a.getenv("HARAFT_TLS_SERVER_NAME"), "name to verify in the node's certificate (default: the host of --addr)")
	f.BoolVar(&a.useTLS, "tls", a.getenv("HARAFT_TLS") == "1", "use TLS with the system roots even without --ca (env HARAFT_TLS=1)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	f.DurationVar(&a.timeout, "timeout", 15*time.Second, "deadline of each call (not of watch)")
}

// dial connects to addr with the invocation's TLS settings.
func (a *app) dial(addr string) (adminpb.AdminClient, error) {
	var creds credentials.TransportCredentials
	if a.useTLS || a.ca != "" || a.cert != "" || a.key != "" {
		name := a.srvName
		if name == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, usagef("--addr %q: %v", addr, err)
			}
			name = host
		}
		tc, err := certs.Client(certs.Files{CA: a.ca, Cert: a.cert, Key: a.key}, name)
		if err != nil {
			return nil, usagef("TLS: %v", err)
		}
		a.tlsConf = tc
		creds = credentials.NewTLS(tc)
	} else {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, usagef("--addr %q: %v", addr, err)
	}
	a.conns = append(a.conns, conn)
	return adminpb.NewAdminClient(conn), nil
}

func (a *app) close() {
	for _, c := range a.conns {
		c.Close()
	}
}

// callCtx adds the token and, unless stream is set, the deadline.
func (a *app) callCtx(ctx context.Context, stream bool) (context.Context, context.CancelFunc, error) {
	tok := a.token
	if tok == "" && a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, nil, usagef("--token-file: %v", err)
		}
		tok, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	}
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	if stream || a.timeout <= 0 {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	c, cancel := context.WithTimeout(ctx, a.timeout)
	return c, cancel, nil
}

// call runs fn against --addr and, when that node answers that only the
// leader can do it, once more against the leader's admin address.
func call[T any](ctx context.Context, a *app, fn func(context.Context, adminpb.AdminClient) (T, error)) (T, error) {
	var zero T
	cctx, cancel, err := a.callCtx(ctx, false)
	if err != nil {
		return zero, err
	}
	defer cancel()
	c, err := a.dial(a.addr)
	if err != nil {
		return zero, err
	}
	for try := 0; ; try++ {
		out, err := fn(cctx, c)
		if leader := leaderAddr(err); leader != "" && leader != a.addr {
			fmt.Fprintf(a.stderr, "haraftctl: %s is not the leader; asking the leader at %s\n", a.addr, leader)
			lc, derr := a.dial(leader)
			if derr != nil {
				return zero, derr
			}
			out, err = fn(cctx, lc)
		}
		// Every haraft write is idempotent: when leadership moved during
		// the call (which may or may not have taken effect), ask again.
		// Within --timeout, wait out an election this way.
		if !leadershipMoved(err) || try == 8 {
			return out, err
		}
		if m := status.Convert(err).Message(); strings.Contains(m, "leadership changed during the call") {
			a.retried = true // that attempt may have taken effect
		}
		fmt.Fprintf(a.stderr, "haraftctl: %v; retrying\n", status.Convert(err).Message())
		select {
		case <-cctx.Done():
			return out, err
		case <-time.After(min(time.Duration(100<<try)*time.Millisecond, 2*time.Second)):
		}
	}
}

// leadershipMoved reports an error that says leadership changed (or no
// leader was known) during the call.
func leadershipMoved(err error) bool {
	if leaderAddr(err) != "" {
		return true // the leader asked was deposed meanwhile: ask again where the leader is now
	}
	msg := status.Convert(err).Message()
	switch status.Code(err) {
	case codes.Unavailable:
		return strings.Contains(msg, "leadership changed during the call") || strings.Contains(msg, "no leader known")
	case codes.FailedPrecondition:
		// An election, or a new leader that has not registered its
		// admin address yet (it does once it serves).
		return strings.Contains(msg, "no leader known") || strings.Contains(msg, "whose admin address is unknown")
	case codes.Aborted:
		return strings.Contains(msg, "leadership transfer failed")
	}
	return false
}

// leaderAddr returns the leader's admin address from a NOT_LEADER status.
func leaderAddr(err error) string {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return ""
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Reason == notLeaderReason && ei.Domain == errorDomain {
			return ei.Metadata["leader_admin_addr"]
		}
	}
	return ""
}

// report prints err and returns its exit code.
func (a *app) report(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "haraftctl: %v\n", ue.error)
		return exitUsage
	}
	if a.usageErr || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(a.stderr, "haraftctl: %v\n", err)
		return exitUsage
	}
	st, ok := status.FromError(err)
	if !ok {
		fmt.Fprintf(a.stderr, "haraftctl: %v\n", err)
		return exitError
	}
	msg := st.Message()
	code := exitError
	switch st.Code() {
	case codes.InvalidArgument:
		code = exitUsage
	case codes.Unauthenticated, codes.PermissionDenied:
		code = exitAuth
	case codes.NotFound:
		code = exitNotFound
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		code = exitUnavailable
		if why := a.probeTLS(); why != "" {
			code = exitAuth
			msg = why + "\n(TLS: check --ca, --cert and --key against the node's admin.tls)"
		} else if isTLSFailure(msg) {
			code = exitAuth
			msg += "\n(TLS: check --ca, --cert and --key against the node's admin.tls)"
		} else if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") {
			msg += fmt.Sprintf("\n(is a node's admin API at %s? set --addr or HARAFT_ADDR)", a.addr)
		}
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		code = exitRefused
	case codes.Canceled:
		code = exitUnavailable
	}
	fmt.Fprintf(a.stderr, "haraftctl: %s: %s\n", st.Code(), msg)
	return code
}

func isTLSFailure(msg string) bool {
	for _, s := range []string{"handshake", "certificate", "tls:", "first record does not look like a TLS handshake"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// probeTLS explains a failed call when TLS is the cause: with TLS 1.3 a
// node refuses a client certificate after the client's side of the
// handshake is done, so the call may only see a reset connection. A fresh
// handshake and one read get the node's alert. It returns "" when TLS is
// not in use or not the cause.
func (a *app) probeTLS() string {
	if a.tlsConf == nil {
		return ""
	}
	conf := a.tlsConf.Clone()
	conf.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", a.addr, conf)
	if err != nil {
		if isTLSFailure(err.Error()) {
			return "TLS handshake with " + a.addr + " failed: " + err.Error()
		}
		return ""
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "remote error: tls:") {
		return "the node refused our client certificate: " + err.Error()
	}
	return ""
}
