package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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

// Caller returns the name of the token a call came with, "" when none.
func Caller(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// check authorizes one call: it returns the context carrying the caller's
// token name, or a status saying what is missing.
func (a *authorizer) check(ctx context.Context, method string) (context.Context, error) {
	read := isReadMethod(method)
	bearer := bearerToken(ctx)
	if len(a.tokens) == 0 {
		if read {
			return ctx, nil
		}
		return nil, status.Errorf(codes.PermissionDenied, "%s needs a write token, and this node has no admin.tokens configured: add one with role write", method)
	}
	if bearer == "" {
		return nil, status.Error(codes.Unauthenticated, `missing bearer token: send "authorization: Bearer <token>" (haraftctl: --token or HARAFT_TOKEN)`)
	}
	sum := sha256.Sum256([]byte(bearer))
	for _, t := range a.tokens {
		// Compare hashes in constant time: the secret's length leaks nothing.
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) != 1 {
			continue
		}
		if !read && !t.write {
			a.log.Warn("admin: write refused to a read-only token", "token", t.name, "method", method)
			return nil, status.Errorf(codes.PermissionDenied, "token %q is read-only: %s needs a token with role write", t.name, method)
		}
		return context.WithValue(ctx, callerKey{}, t.name), nil
	}
	a.log.Warn("admin: unknown bearer token", "method", method)
	return nil, status.Error(codes.Unauthenticated, "unknown bearer token: check --token / HARAFT_TOKEN against admin.tokens")
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
