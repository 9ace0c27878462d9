package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedListener holds the first connection it accepts until release is
// closed, and reports its Close: the test puts that connection into the
// accept loop's hands just as the frontend shuts down.
type gatedListener struct {
	net.Listener
	held, release, closing chan struct{}
	first                  atomic.Bool
	closeOnce              sync.Once
}

func newGatedListener(t *testing.T) *gatedListener {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &gatedListener{Listener: raw, held: make(chan struct{}), release: make(chan struct{}), closing: make(chan struct{})}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.first.CompareAndSwap(false, true) {
		close(l.held)
		<-l.release
	}
	return c, nil
}

func (l *gatedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closing) })
	return l.Listener.Close()
}

// TestShutdownServesTheLastAccepted: a connection the accept loop took
// from the kernel as Shutdown began is served, not closed unanswered. At
// a binary upgrade the listening socket lives on in the new process, so
// such a client would otherwise lose its request with nobody to retry it
// (it was on a new connection). Over each kind of frontend: HTTP, HTTP
// behind accept_proxy, mode tcp, and TLS (the handshake runs after
// Shutdown began).
func TestShutdownServesTheLastAccepted(t *testing.T) {
	httpServer := startBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello\n") })
	tcpServer := rawBackend(t, func(c net.Conn) { _, _ = io.WriteString(c, "hello\n"); _ = c.Close() })
	const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name   string
		tcp    bool // mode tcp: the server speaks first
		pp     bool // the client sends a PROXY v1 header
		tls    bool
		server string
	}{
		{name: "http", server: httpServer},
		{name: "http accept_proxy", pp: true, server: httpServer},
		{name: "tcp", tcp: true, server: tcpServer},
		{name: "tcp accept_proxy", tcp: true, pp: true, server: tcpServer},
		{name: "tls", tls: true, server: httpServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: tc.server, Weight: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ln := newGatedListener(t)
			o := FrontendOptions{Name: "web", Listener: ln, Backend: b}
			if tc.pp {
				o.AcceptProxy = &AcceptProxy{}
			}
			var f frontend
			var clientTLS *tls.Config
			switch {
			case tc.tcp:
				f, err = NewTCPFrontend(o, &stubState{}, nil, quietLogger())
			case tc.tls:
				ca := newTestCA(t)
				pair, _ := ca.issue(t, t.TempDir(), "web", "www.example.com")
				store, serr := NewCertStore([]CertPair{pair}, quietLogger())
				if serr != nil {
					t.Fatal(serr)
				}
				clientTLS = &tls.Config{RootCAs: ca.pool, ServerName: "www.example.com", NextProtos: []string{"http/1.1"}}
				f, err = NewTLSFrontend(TLSFrontendOptions{Certs: store, FrontendOptions: o}, &stubState{}, nil, quietLogger())
			default:
				f, err = NewFrontend(o, &stubState{}, nil, quietLogger())
			}
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- f.Serve() }()

			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
			if tc.pp {
				if _, err := io.WriteString(raw, "PROXY TCP4 192.0.2.7 192.0.2.1 40000 80\r\n"); err != nil {
					t.Fatal(err)
				}
			}
			answer := make(chan string, 1)
			go func() { // the client: a request (or the server's greeting) and its answer
				var c net.Conn = raw
				if tc.tls {
					tconn := tls.Client(raw, clientTLS)
					if err := tconn.Handshake(); err != nil {
						answer <- "handshake: " + err.Error()
						return
					}
					c = tconn
				}
				if !tc.tcp {
					if _, err := io.WriteString(c, get); err != nil {
						answer <- "write: " + err.Error()
						return
					}
				}
				// Read to the end: the proxy closes the connection once it
				// answered (an HTTP one drains; a mode tcp one relays the
				// server's close).
				b, err := io.ReadAll(bufio.NewReader(c))
				if err != nil && len(b) == 0 {
					answer <- "read: " + err.Error()
					return
				}
				answer <- string(b)
			}()

			<-ln.held // the loop is in Accept with the client's connection
			shut := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				shut <- f.Shutdown(ctx)
			}()
			<-ln.closing
			// Let Shutdown run on past the listener's close (before the fix
			// the engine then refused the connection); then hand it over.
			time.Sleep(50 * time.Millisecond)
			close(ln.release)

			got := <-answer
			switch {
			case tc.tcp && got != "hello\n":
				t.Errorf("the mode tcp client got %q, want the server's hello", got)
			case !tc.tcp && (!strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "hello\n")):
				t.Errorf("the client got %q, want a 200 with the server's hello", got)
			}
			_ = raw.Close() // a mode tcp connection runs until its client ends it
			if err := <-shut; err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}
