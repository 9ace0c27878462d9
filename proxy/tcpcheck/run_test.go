package tcpcheck

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/internal/h1test"
)

// serve starts a loopback server running handle on each connection.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	return h1test.RawBackend(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		handle(c)
	})
}

// redis answers each line it reads with reply(line).
func redis(reply func(line string) string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, reply(strings.TrimRight(line, "\r\n"))); err != nil {
				return
			}
		}
	}
}

func steps(t *testing.T, spec ...string) []Step {
	t.Helper()
	var out []Step
	for i := 0; i < len(spec); i += 2 {
		var (
			s   Step
			err error
		)
		switch k, v := spec[i], spec[i+1]; k {
		case "send":
			s, err = ParseSend(v)
		case "send-binary":
			s, err = ParseSendBinary(v)
		default:
			s, err = ParseExpect(strings.TrimPrefix(k, "expect "), v)
		}
		if err != nil {
			t.Fatalf("%s %q: %v", spec[i], spec[i+1], err)
		}
		out = append(out, s)
	}
	return out
}

func TestRun(t *testing.T) {
	pong := redis(func(l string) string {
		if l == "PING" {
			return "+PONG\r\n"
		}
		return "-ERR unknown command '" + l + "'\r\n"
	})
	const short = 300 * time.Millisecond // the check's timeout where the step must time out
	cases := []struct {
		name    string
		server  func(net.Conn)
		steps   []string
		timeout time.Duration
		want    string // "" = passes; else a substring of the reason
	}{
		{"redis ping pong", pong, []string{"send", `PING\r\n`, "expect string", "+PONG"}, 0, ""},
		{"wrong reply", redis(func(string) string { return "-LOADING\r\n" }),
			[]string{"send", "PING\r\n", "expect string", "+PONG"}, short,
			`timeout at step 2: expect string "+PONG" not found in 10 bytes ("-LOADING\r\n")`},
		{"banner before any send", func(c net.Conn) {
			_, _ = io.WriteString(c, "220 mx.example.com ESMTP\r\n")
			redis(func(l string) string { return map[bool]string{true: "221 bye\r\n", false: "500 what\r\n"}[l == "QUIT"] })(c)
		}, []string{"expect string", "220 ", "send", `QUIT\r\n`, "expect string", "221"}, 0, ""},
		{"regex", redis(func(string) string { return "$40\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n" }),
			[]string{"send", "INFO replication\r\n", "expect rstring", `role:master\r?\n`}, 0, ""},
		{"regex that does not match", redis(func(string) string { return "role:slave\r\n" }),
			[]string{"send", "INFO replication\r\n", "expect rstring", `role:master`}, short,
			`timeout at step 2: expect rstring "role:master" not found in 12 bytes`},
		{"binary", func(c net.Conn) {
			b := make([]byte, 4)
			if _, err := io.ReadFull(c, b); err == nil && string(b) == "\x00\x01\xfe\xff" {
				_, _ = c.Write([]byte{0xca, 0xfe, 0x00, 0x00, 0xba, 0xbe})
			}
		}, []string{"send-binary", "0001feFF", "expect binary", "cafe0000babe"}, 0, ""},
		{"answer in pieces", func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			for _, p := range []string{"+P", "O", "NG", "\r\n"} {
				_, _ = io.WriteString(c, p)
				time.Sleep(10 * time.Millisecond) // separate segments; the match needs all of them
			}
		}, []string{"send", "PING\r\n", "expect string", "+PONG\r\n"}, 0, ""},
		// As HAProxy 2.6 (TestHAProxyTCPCheckSameVerdicts): expects in a
		// row search the same answer; a send drops what was read before.
		{"expects in a row search the same answer", redis(func(string) string { return "+PONG\r\n" }),
			[]string{"send", "PING\r\n", "expect string", "+PONG", "expect rstring", `^\+PONG\r\n$`}, 0, ""},
		{"a send drops what was read", func(c net.Conn) {
			_, _ = io.WriteString(c, "+PONG\r\n") // a banner; PING gets no answer
			_, _ = io.Copy(io.Discard, c)
		}, []string{"expect string", "+PONG", "send", "PING\r\n", "expect string", "+PONG"}, short,
			`timeout at step 3 (expect string "+PONG"): nothing received`},
		{"no answer", func(c net.Conn) { _, _ = io.Copy(io.Discard, c) },
			[]string{"send", "PING\r\n", "expect string", "+PONG"}, short,
			`timeout at step 2 (expect string "+PONG"): nothing received`},
		{"server closes early", func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = io.WriteString(c, "+PO")
		}, []string{"send", "PING\r\n", "expect string", "+PONG"}, 0,
			`step 2: expect string "+PONG" not found in 3 bytes: the server closed the connection ("+PO")`},
		{"server closes at once", func(net.Conn) {}, []string{"expect string", "220"}, 0,
			`step 1: expect string "220" not found in 0 bytes: the server closed the connection`},
		{"oversized answer", func(c net.Conn) {
			junk := []byte(strings.Repeat("garbage ", 1024))
			for {
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}, []string{"send", "PING\r\n", "expect string", "+PONG"}, 0,
			`step 2: expect string "+PONG" not found in 16384 bytes (the read limit) ("garbage garbage garbage garbage "...)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.server)
			st := steps(t, tc.steps...)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second // the step must end by itself, long before this
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = Run(ctx, c, st)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("failed: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("passed, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("reason %q, want %q", err, tc.want)
			}
		})
	}
}

// Cancelling the check's context ends a step blocked on the server.
func TestRunCancelled(t *testing.T) {
	addr := serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, steps(t, "expect string", "never")) }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled check passed")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
