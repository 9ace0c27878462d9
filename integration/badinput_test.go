package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Malformed or unknown cookie values are treated as no cookie: never a
// panic, never a 5xx. A malformed value can never be a session, so it
// needs no catch-up with the leader. A well-formed unknown value may be a
// session committed elsewhere a moment ago: the node catches up first,
// and while it cannot (an election on a busy machine with these 50 ms
// timeouts) it refuses with 503 rather than guess; a retry is served.
func TestMalformedCookies(t *testing.T) {
	c := startDev(t, learnMode(), "")
	cases := []struct {
		cookie     string
		wellFormed bool // may be a session: looked up after a catch-up
	}{
		{"JSESSIONID=", false},
		{"JSESSIONID", false},
		{"JSESSIONID=\"", false},
		{"JSESSIONID=\"\"", false},
		{"JSESSIONID=;;;;", false},
		{"JSESSIONID=unknown-session", true},
		{"JSESSIONID=" + strings.Repeat("x", 5000), false},
		{"JSESSIONID=\x01\x02\x7f", false},
		{"=; =; ;;", false},
		{"JSESSIONID=A~; JSESSIONID=B~x", false}, // ambiguous: two values
	}
	n1 := c.Nodes[0]
	addr := n1.Frontends()[0].Addr().String()
	send := func(ck string) *http.Response {
		// Raw bytes: Go's client refuses to send control characters.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nConnection: close\r\n\r\n", ck)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("cookie %q: %v", ck, err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range cases {
		before := n1.Status().Learner
		resp := send(tc.cookie)
		after := n1.Status().Learner
		if !tc.wellFormed && after.CatchUps != before.CatchUps {
			t.Errorf("cookie %q: a malformed value was looked up with a catch-up", tc.cookie)
		}
		for try := 0; tc.wellFormed && resp.StatusCode == http.StatusServiceUnavailable && try < 50; try++ {
			if after.CatchUpFailures == before.CatchUpFailures {
				t.Fatalf("cookie %q: 503 without a failed catch-up", tc.cookie)
			}
			time.Sleep(100 * time.Millisecond)
			before = n1.Status().Learner
			resp = send(tc.cookie)
			after = n1.Status().Learner
		}
		if resp.StatusCode >= 500 || (resp.StatusCode == 200 && resp.Header.Get("X-Backend") == "") {
			t.Fatalf("cookie %q: status %d backend %q", tc.cookie, resp.StatusCode, resp.Header.Get("X-Backend"))
		}
	}
	if r := get(t, proxyURL(c, 0)); r.status != 200 {
		t.Fatalf("proxy stopped serving after malformed cookies: %d", r.status)
	}
}

// A backend that refuses connections: the request is redispatched once to
// another server; with every server down the client gets a short 503 and
// the node keeps serving.
func TestBackendRefusesConnections(t *testing.T) {
	c := startDev(t, learnMode(), "")
	r := get(t, proxyURL(c, 0))
	sid := cookieValue(t, r.setCookie, "JSESSIONID")
	waitBound(t, c, sid, r.backend)
	dead, other := 0, 1
	if r.backend == "B" {
		dead, other = 1, 0
	}
	c.Backends[dead].Close()
	waitFor(t, "backend closed", 2*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", c.Backends[dead].Addr(), 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	got := get(t, proxyURL(c, 0), "JSESSIONID="+sid)
	if got.status != 200 || got.backend != c.Backends[other].Name {
		t.Fatalf("with %s down: %+v (want a redispatch to %s)", r.backend, got, c.Backends[other].Name)
	}
	if n := c.Nodes[0].Frontends()[0].Stats().Redispatches; n == 0 {
		t.Fatal("redispatch not counted")
	}
	c.Backends[other].Close()
	got = get(t, proxyURL(c, 0), "JSESSIONID="+sid)
	if got.status != 503 || len(got.body) > 200 {
		t.Fatalf("all servers down: status %d body %q", got.status, got.body)
	}
	if r := get(t, "http://"+c.Nodes[0].OpsAddr()+"/ready"); r.status != 200 {
		t.Fatalf("node stopped being ready: %d", r.status)
	}
}
