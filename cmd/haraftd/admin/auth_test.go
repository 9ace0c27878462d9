package admin

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestAuthorize(t *testing.T) {
	tokens := []Token{{Name: "ops", Secret: "write-secret-0123456789", Write: true}, {Name: "dash", Secret: "read-secret-0123456789"}}
	const read, write = "/haraft.admin.v1.Admin/ListBackends", "/haraft.admin.v1.Admin/SetServerAdmin"
	for _, tc := range []struct {
		name   string
		tokens []Token
		header string
		method string
		code   codes.Code
		caller string
	}{
		{"write token writes", tokens, "Bearer write-secret-0123456789", write, codes.OK, "ops"},
		{"write token reads", tokens, "Bearer write-secret-0123456789", read, codes.OK, "ops"},
		{"read token reads", tokens, "Bearer read-secret-0123456789", read, codes.OK, "dash"},
		{"read token may use reflection", tokens, "Bearer read-secret-0123456789", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", codes.OK, "dash"},
		{"read token may not write", tokens, "Bearer read-secret-0123456789", write, codes.PermissionDenied, ""},
		{"read token may not restore", tokens, "Bearer read-secret-0123456789", "/haraft.admin.v1.Admin/SnapshotRestore", codes.PermissionDenied, ""},
		{"no token", tokens, "", read, codes.Unauthenticated, ""},
		{"not a bearer token", tokens, "Basic b3BzOm9wcw==", read, codes.Unauthenticated, ""},
		{"unknown token", tokens, "Bearer nope-nope-nope-nope", read, codes.Unauthenticated, ""},
		{"lower-case scheme", tokens, "bearer write-secret-0123456789", write, codes.OK, "ops"},
		{"no tokens configured: reads open", nil, "", read, codes.OK, ""},
		{"no tokens configured: writes refused", nil, "Bearer anything", write, codes.PermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthorizer(tc.tokens, discard())
			ctx := context.Background()
			if tc.header != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", tc.header))
			}
			got, err := a.check(ctx, tc.method)
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if err == nil && Caller(got) != tc.caller {
				t.Fatalf("caller %q, want %q", Caller(got), tc.caller)
			}
		})
	}
}
