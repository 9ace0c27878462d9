package config

import "testing"

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in    string
		use   addrUse
		canon string // canonical form, or "" when an error is expected
		err   string
	}{
		{in: "127.0.0.1:80", use: dialAddr, canon: "127.0.0.1:80"},
		{in: "[FD00:0::3]:080", use: dialAddr, canon: "[fd00::3]:80"},
		{in: "App.Internal.:8080", use: dialAddr, canon: "app.internal:8080"},
		{in: ":80", use: listenAddr, canon: ":80"},
		{in: "0.0.0.0:0", use: listenAddr, canon: "0.0.0.0:0"},
		{in: "[fe80::1%eth0]:7000", use: dialAddr, canon: "[fe80::1%eth0]:7000"},
		{in: "10.0.0.5", use: dialAddr, err: `missing port in address "10.0.0.5"`},
		{in: "::1:80", use: dialAddr, err: `too many colons in address "::1:80"`},
		{in: "h:", use: listenAddr, err: `invalid port "" in address "h:" (want a number)`},
		{in: "h:+80", use: listenAddr, err: `invalid port "+80" in address "h:+80" (want a number)`},
		{in: "h:65536", use: listenAddr, err: `invalid port "65536" in address "h:65536" (want 0..65535)`},
		{in: ":80", use: dialAddr, err: `missing host in address ":80"`},
		{in: "h:0", use: dialAddr, err: `port 0 in address "h:0": a fixed port is needed here`},
		{in: "bad..host:1", use: dialAddr, err: `invalid host "bad..host" in address "bad..host:1"`},
		{in: "", use: listenAddr, err: `missing port in address ""`},
	} {
		h, err := parseAddr(tc.in, tc.use)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseAddr(%q) err = %v, want %s", tc.in, err, tc.err)
			}
		case err != nil || h.String() != tc.canon:
			t.Errorf("parseAddr(%q) = %v, %v; want %s", tc.in, h, err, tc.canon)
		}
	}
}

func TestConflicts(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:80", "127.0.0.1:80", true},
		{"127.0.0.1:80", "127.0.0.1:81", false},
		{"127.0.0.1:80", "127.0.0.2:80", false},
		{":80", "127.0.0.1:80", true},
		{"0.0.0.0:80", "[::]:80", true},
		{"[::1]:80", "[0::1]:80", true},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // any free port
	} {
		a, errA := parseAddr(tc.a, listenAddr)
		b, errB := parseAddr(tc.b, listenAddr)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if got := a.conflicts(b); got != tc.want {
			t.Errorf("%s vs %s: conflicts = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
