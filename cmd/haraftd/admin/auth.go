package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cluster"
)

// readMethods are the calls a read token may make; every other call of the
// service needs a write token. Reflection is open to read tokens too.
var readMethods = map[string]bool{
	"/haraft.admin.v1.Admin/Status":        true,
	"/haraft.admin.v1.Admin/Members":       true,
	"/haraft.admin.v1.Admin/ListBackends":  true,
	"/haraft.admin.v1.Admin/CountSessions": true,
	"/haraft.admin.v1.Admin/GetSession":    true,
	"/haraft.admin.v1.Admin/ListSessions":  true,
	"/haraft.admin.v1.Admin/ListEIPs":      true,
	"/haraft.admin.v1.Admin/Watch":         true,
}

func isReadMethod(method string) bool {
	return readMethods[method] || strings.HasPrefix(method, "/grpc.reflection.")
}

type authorizer struct {
	tokens []hashedToken
	log    *slog.Logger
	// failures thins out the log of failed authentications, per peer
	// address (a stranger can provoke them at will).
	failures cluster.LogLimiter
}

type hashedToken struct {
	name  string
	sum   [32]byte
	write bool
}

func newAuthorizer(tokens []Token, log *slog.Logger) *authorizer {
	a := &authorizer{log: log}
	for _, t := range tokens {
		a.tokens = append(a.tokens, hashedToken{name: t.Name, sum: sha256.Sum256([]byte(t.Secret)), write: t.Write})
	}
	return a
}

type callerKey struct{}

// caller is who made a call: the token's name and role.
type caller struct {
	name  string
	write bool
}

// Caller returns the name of the token a call came with, "" when none.
func Caller(ctx context.Context) string {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c.name
}

// seesKeys reports whether the call came with a write token, the only
// role that sees session keys in full.
func seesKeys(ctx context.Context) bool {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c.write
}

// match returns the token whose secret is bearer. Every configured token
// is compared, in constant time, whichever matches: neither the secret's
// length nor its position in the list shows in the time taken.
func (a *authorizer) match(bearer string) (hashedToken, bool) {
	sum := sha256.Sum256([]byte(bearer))
	var found hashedToken
	ok := 0
	for _, t := range a.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], t.sum[:])
		if eq == 1 {
			found = t
		}
		ok |= eq
	}
	return found, ok == 1
}

// check authorizes one call: it returns the context carrying the caller,
// or a status saying what is missing.
func (a *authorizer) check(ctx context.Context, method string) (context.Context, error) {
	read := isReadMethod(method)
	bearer := bearerToken(ctx)
	if len(a.tokens) == 0 {
		if read {
			return context.WithValue(ctx, callerKey{}, caller{}), nil
		}
		a.failed(ctx, method, "", "write without admin.tokens configured")
		return nil, status.Errorf(codes.PermissionDenied, "%s needs a write token, and this node has no admin.tokens configured: add one with role write", method)
	}
	if bearer == "" {
		a.failed(ctx, method, "", "no bearer token")
		return nil, status.Error(codes.Unauthenticated, `missing bearer token: send "authorization: Bearer <token>" (haraftctl: --token or HARAFT_TOKEN)`)
	}
	t, ok := a.match(bearer)
	if !ok {
		a.failed(ctx, method, "", "unknown bearer token")
		return nil, status.Error(codes.Unauthenticated, "unknown bearer token: check --token / HARAFT_TOKEN against admin.tokens")
	}
	if !read && !t.write {
		a.failed(ctx, method, t.name, "write refused to a read-only token")
		return nil, status.Errorf(codes.PermissionDenied, "token %q is read-only: %s needs a token with role write", t.name, method)
	}
	return context.WithValue(ctx, callerKey{}, caller{name: t.name, write: t.write}), nil
}

// failed logs a refused call with the peer's address, at most one line
// per peer address every 10 s; the next line counts the ones left out.
func (a *authorizer) failed(ctx context.Context, method, token, why string) {
	addr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ok, suppressed := a.failures.Allow(host)
	if !ok {
		return
	}
	a.log.Warn("admin: call refused", "reason", why, "method", method, "token", token, "peer_addr", addr,
		"refused_since_last_line", suppressed)
}

func bearerToken(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		if t, ok := strings.CutPrefix(v, "bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// HasWriteToken reports whether a write token is configured: without one
// no write is ever authorized.
func (s *Server) HasWriteToken() bool {
	for _, t := range s.auth.tokens {
		if t.write {
			return true
		}
	}
	return false
}

// Authorize checks bearer for a call of method (a full gRPC method name,
// "/haraft.admin.v1.Admin/SetServerAdmin") made outside the gRPC listener,
// as the interceptor checks it: the same tokens, compared in constant
// time, the same log of refusals. It returns the context carrying the
// caller, or a status with Unauthenticated (no or unknown token) or
// PermissionDenied (a read-only token, or no tokens configured).
func (s *Server) Authorize(ctx context.Context, method, bearer string) (context.Context, error) {
	md := metadata.MD{}
	if bearer != "" {
		md.Set("authorization", "Bearer "+bearer)
	}
	return s.auth.check(metadata.NewIncomingContext(ctx, md), method)
}
