// Package demobackend is the tiny stateful application server that -dev
// mode and the tests put behind haraft, like the seed's Apache-A/B: a
// request without a JSESSIONID cookie gets Set-Cookie: JSESSIONID=<random>,
// and every response carries X-Backend: NAME and the body "hello from NAME".
// A request that brings a JSESSIONID gets it echoed in X-Session, so tests
// see what the application received after the proxy rewrote cookies.
package demobackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Server is one running demo backend.
type Server struct {
	Name     string
	ln       net.Listener
	srv      *http.Server
	requests atomic.Uint64
}

// Start serves a demo backend named name on addr ("127.0.0.1:0" for any port).
func Start(name, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, ln: ln}
	body := []byte("hello from " + name + "\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if c, err := r.Cookie("JSESSIONID"); err == nil && c.Value != "" {
			w.Header().Set("X-Session", c.Value) // what the application received
		} else {
			var b [8]byte
			_, _ = rand.Read(b[:])
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: hex.EncodeToString(b[:]), Path: "/"})
		}
		if cc := r.URL.Query().Get("cache-control"); cc != "" {
			w.Header().Set("Cache-Control", cc) // lets tests ask for a cacheable response
		}
		w.Header().Set("X-Backend", name)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; nothing to report
		}
	}()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Requests returns how many requests the server answered.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Close stops the server at once, as a crashed backend would.
func (s *Server) Close() error { return s.srv.Close() }

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
