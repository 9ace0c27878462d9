package admin

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/adminpb"
)

// Requests refused before anything is proposed: the reason names what to
// change.
func TestAddServerRefusedUpFront(t *testing.T) {
	s := &Server{opts: Options{Backends: []BackendConfig{
		{Name: "app", Servers: []ServerConfig{{Name: "A", Addr: "127.0.0.1:9001", Cookie: "A", Weight: 1}}},
		{Name: "hmac", Servers: []ServerConfig{{Name: "A", Addr: "127.0.0.1:9001", Cookie: "A", Weight: 1}}, DynamicCookies: true},
	}}}
	for _, tc := range []struct {
		name string
		req  *adminpb.AddServerRequest
		code codes.Code
		msg  string
	}{
		{"no addr", &adminpb.AddServerRequest{Backend: "app", Server: "C"}, codes.InvalidArgument, "addr"},
		{"unknown backend", &adminpb.AddServerRequest{Backend: "nope", Server: "C", Addr: "127.0.0.1:9003"}, codes.NotFound, `backend "nope"`},
		{"bad port", &adminpb.AddServerRequest{Backend: "app", Server: "C", Addr: "127.0.0.1:0"}, codes.InvalidArgument, "port in 1..65535"},
		{"cookie with a dynamic key", &adminpb.AddServerRequest{Backend: "hmac", Server: "C", Addr: "127.0.0.1:9003", Cookie: "c"},
			codes.InvalidArgument, `--cookie "c" would be ignored: backend hmac's cookie has a dynamic_key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.AddServer(context.Background(), tc.req)
			if st, _ := status.FromError(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.code, tc.msg)
			}
		})
	}
}
