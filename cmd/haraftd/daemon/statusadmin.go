package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/admin"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/proto/adminpb"
)

// The status page's drain / ready / maint buttons: they POST to
//
//	POST /servers/{backend}/{server}/admin   {"admin": "drain"|"ready"|"maint"}
//
// on the ops port, with "Authorization: Bearer <write token>" and
// "Content-Type: application/json". The endpoint is the admin API's
// SetServerAdmin, called in-process after the same token check as the
// admin listener's (admin.Server.Authorize). A browser's form cannot send
// that header nor that content type to another origin without a CORS
// preflight, which this endpoint never grants; an Origin, when sent, must
// be the page's own. Without a write token configured the endpoint answers
// 403 and the page shows no buttons.
//
// As for haraftctl, only the leader's admin API proposes the command: on a
// follower the in-process call answers NOT_LEADER with the leader's admin
// address, and the call is made there, with the caller's token (which the
// leader checks against its own admin.tokens) and this node's admin.tls
// files as the client's (they are the cluster CA's).

// setServerAdminMethod is the admin API method the endpoint stands for.
const setServerAdminMethod = "/haraft.admin.v1.Admin/SetServerAdmin"

// opsAdminTimeout bounds one call of the endpoint.
const opsAdminTimeout = 15 * time.Second

type opsAdminRequest struct {
	Admin string `json:"admin"`
}

type opsAdminError struct {
	Error string `json:"error"`
}

func opsAdminReply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func opsAdminFail(w http.ResponseWriter, code int, format string, args ...any) {
	opsAdminReply(w, code, opsAdminError{Error: fmt.Sprintf(format, args...)})
}

// sameOrigin reports whether an Origin header, when present, is the
// ops listener's own (the page that holds the buttons).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme == "http" && u.Host == r.Host
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// opsWrites reports whether the endpoint may take a token at all: on a
// loopback ops listener, or beyond it with http.writes set (the token then
// crosses the network in the clear).
func (d *Daemon) opsWrites() (bool, string) {
	if loopbackListener(d.opsLn) || d.cfg.HTTP.Writes {
		return true, ""
	}
	return false, "the ops listener is plain HTTP beyond loopback, where a token would cross the network in the clear: use haraftctl, reach the page through a loopback listener (SSH tunnel), or set http.writes: true"
}

// opsSetServerAdmin serves POST /servers/{backend}/{server}/admin.
func (d *Daemon) opsSetServerAdmin(w http.ResponseWriter, r *http.Request) {
	srv := d.Admin()
	if srv == nil {
		opsAdminFail(w, http.StatusServiceUnavailable, "starting: the admin server is not up yet")
		return
	}
	if !srv.HasWriteToken() {
		opsAdminFail(w, http.StatusForbidden, "no admin token with role write is configured on this node: server states change only with one (admin.tokens)")
		return
	}
	if ok, why := d.opsWrites(); !ok {
		opsAdminFail(w, http.StatusForbidden, "%s", why)
		return
	}
	if !sameOrigin(r) {
		opsAdminFail(w, http.StatusForbidden, "origin %q is not this page's: refused", r.Header.Get("Origin"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		opsAdminFail(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json (forms are refused)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opsAdminTimeout)
	defer cancel()
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: a})
	}
	token := bearer(r)
	ctx, err := srv.Authorize(ctx, setServerAdminMethod, token)
	if err != nil {
		code := http.StatusForbidden
		if status.Code(err) == codes.Unauthenticated {
			code = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="haraft"`)
		}
		opsAdminFail(w, code, "%s", status.Convert(err).Message())
		return
	}
	state, err := parseOpsAdmin(io.LimitReader(r.Body, 4096))
	if err != nil {
		opsAdminFail(w, http.StatusBadRequest, "%v", err)
		return
	}
	req := &adminpb.SetServerAdminRequest{Backend: r.PathValue("backend"), Server: r.PathValue("server"), Admin: state}
	res, err := d.setServerAdmin(ctx, srv, token, req)
	if err != nil {
		opsAdminFail(w, httpCode(err), "%s", status.Convert(err).Message())
		return
	}
	d.log.Info("ops: server state set", "backend", req.Backend, "server", req.Server, "admin", state.String(), "by", admin.Caller(ctx))
	opsAdminReply(w, http.StatusOK, map[string]string{"backend": res.Backend, "server": res.Name, "admin": strings.ToLower(strings.TrimPrefix(res.Admin.String(), "ADMIN_"))})
}

// parseOpsAdmin reads the endpoint's body, {"admin": "drain"|"ready"|"maint"}.
func parseOpsAdmin(body io.Reader) (adminpb.AdminState, error) {
	var req opsAdminRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, fmt.Errorf("body: %w (want {\"admin\": \"drain\"|\"ready\"|\"maint\"})", err)
	}
	switch strings.ToLower(req.Admin) {
	case "drain":
		return adminpb.AdminState_ADMIN_DRAIN, nil
	case "ready":
		return adminpb.AdminState_ADMIN_READY, nil
	case "maint":
		return adminpb.AdminState_ADMIN_MAINT, nil
	}
	return 0, fmt.Errorf("admin %q: use drain, ready or maint", req.Admin)
}

// setServerAdmin runs SetServerAdmin here, or at the leader's admin API
// when this node is not the leader, again while leadership moves (an
// election, a leader deposed during the call), until ctx ends. Every
// attempt is the same idempotent command.
func (d *Daemon) setServerAdmin(ctx context.Context, srv *admin.Server, token string, req *adminpb.SetServerAdminRequest) (*adminpb.Server, error) {
	for try := 0; ; try++ {
		res, err := srv.SetServerAdmin(ctx, req)
		if leader := notLeaderAddr(err); leader != "" {
			res, err = d.setServerAdminAt(ctx, leader, token, req)
		}
		if err == nil || !leadershipMoving(err) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(time.Duration(50<<try)*time.Millisecond, time.Second)):
		}
	}
}

// leadershipMoving reports an error that another attempt may not get: no
// leader known, a leader deposed, a leader that has not registered its
// admin address yet.
func leadershipMoving(err error) bool {
	if notLeaderAddr(err) != "" {
		return true
	}
	msg := status.Convert(err).Message()
	switch status.Code(err) {
	case codes.Unavailable:
		return strings.Contains(msg, "leadership changed") || strings.Contains(msg, "no leader known")
	case codes.FailedPrecondition:
		return strings.Contains(msg, "no leader known") || strings.Contains(msg, "admin address is unknown") || strings.Contains(msg, "not the leader")
	}
	return false
}

// notLeaderAddr is the leader's admin address of a NOT_LEADER status.
func notLeaderAddr(err error) string {
	st, ok := status.FromError(err)
	if !ok || err == nil || st.Code() != codes.FailedPrecondition {
		return ""
	}
	for _, dt := range st.Details() {
		if ei, ok := dt.(*errdetails.ErrorInfo); ok && ei.Reason == admin.ReasonNotLeader && ei.Domain == admin.ErrorDomain {
			return ei.Metadata["leader_admin_addr"]
		}
	}
	return ""
}

// setServerAdminAt makes the call at the leader's admin API, as haraftctl
// does when told NOT_LEADER.
func (d *Daemon) setServerAdminAt(ctx context.Context, addr, token string, req *adminpb.SetServerAdminRequest) (*adminpb.Server, error) {
	creds := insecure.NewCredentials()
	if t := d.cfg.Admin.TLS; t != nil {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "leader admin address %q: %v", addr, err)
		}
		var conf *tls.Config
		if conf, err = certs.Client(certs.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}, host); err != nil {
			return nil, status.Errorf(codes.Internal, "admin.tls as a client of the leader: %v", err)
		}
		creds = credentials.NewTLS(conf)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "leader admin API %s: %v", addr, err)
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	res, err := adminpb.NewAdminClient(conn).SetServerAdmin(ctx, req)
	if err != nil {
		return nil, status.Errorf(status.Code(err), "at the leader's admin API %s: %s", addr, status.Convert(err).Message())
	}
	return res, nil
}

// httpCode maps an admin API status to an HTTP status.
func httpCode(err error) int {
	switch status.Code(err) {
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.Unavailable, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
