package admin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/fsm"
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

// TestFailedAuthLogged: refused calls are logged with the peer's address,
// once per address per interval, the next line counting those left out;
// a read caller does not see keys, a write caller does.
func TestFailedAuthLogged(t *testing.T) {
	var buf bytes.Buffer
	a := newAuthorizer([]Token{{Name: "ops", Secret: "write-secret-0123456789", Write: true}, {Name: "dash", Secret: "read-secret-0123456789"}},
		slog.New(slog.NewTextHandler(&buf, nil)))
	from := func(addr, header string) context.Context {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(addr), Port: 40000}})
		if header != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", header))
		}
		return ctx
	}
	const read = "/haraft.admin.v1.Admin/ListSessions"
	for i := range 5 {
		if _, err := a.check(from("192.0.2.7", fmt.Sprintf("Bearer guess-%d-0123456789", i)), read); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := a.check(from("192.0.2.8", ""), read); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	if _, err := a.check(from("192.0.2.9", "Bearer read-secret-0123456789"), "/haraft.admin.v1.Admin/DeleteSession"); status.Code(err) != codes.PermissionDenied {
		t.Fatal(err)
	}
	log := buf.String()
	for _, want := range []string{
		`reason="unknown bearer token" method=/haraft.admin.v1.Admin/ListSessions token="" peer_addr=192.0.2.7:40000`,
		`reason="no bearer token" method=/haraft.admin.v1.Admin/ListSessions token="" peer_addr=192.0.2.8:40000`,
		`reason="write refused to a read-only token" method=/haraft.admin.v1.Admin/DeleteSession token=dash peer_addr=192.0.2.9:40000`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "192.0.2.7"); n != 1 {
		t.Errorf("%d lines for five failures from one address, want 1:\n%s", n, log)
	}

	for _, tc := range []struct {
		header string
		keys   bool
	}{{"Bearer write-secret-0123456789", true}, {"Bearer read-secret-0123456789", false}} {
		ctx, err := a.check(from("127.0.0.1", tc.header), read)
		if err != nil || seesKeys(ctx) != tc.keys {
			t.Errorf("%s: sees keys %v (%v), want %v", tc.header, seesKeys(ctx), err, tc.keys)
		}
	}
	open := newAuthorizer(nil, discard())
	if ctx, err := open.check(from("127.0.0.1", ""), read); err != nil || seesKeys(ctx) {
		t.Errorf("no tokens configured: a reader sees keys (%v)", err)
	}
}

func TestKeyMask(t *testing.T) {
	m1, err := newKeyMasker([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := newKeyMasker([]byte("another-secret-0123456789abcdef0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ a, b string }{{"10.0.0.1", "10.0.0.2"}, {"JSESSIONID-1", "JSESSIONID-2"}, {"", "x"}} {
		if m1.mask(tc.a) == m1.mask(tc.b) {
			t.Errorf("%q and %q share a mask", tc.a, tc.b)
		}
		first, again := m1.mask(tc.a), m1.mask(tc.a)
		if first != again || first == m2.mask(tc.a) {
			t.Errorf("%q: mask not stable per secret, or the same under two secrets", tc.a)
		}
		if got := m1.mask(tc.a); len(got) != len(MaskPrefix)+maskHexLen || !strings.HasPrefix(got, MaskPrefix) {
			t.Errorf("mask %q", got)
		}
	}
	k := fsm.SessionKey{Backend: "app", Key: "secret-session"}
	if _, err := m2.openPageToken(m1.sealPageToken(k)); err == nil {
		t.Error("a page token of another secret was accepted")
	}
	if _, err := newKeyMasker([]byte("short")); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}
