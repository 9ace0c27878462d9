package config

import (
	"strings"
	"testing"
)

// base is a valid config; the cases below edit single lines of it so that
// line numbers stay put (appended lines start at 25).
const base = `node:
  id: n1
  data_dir: /tmp/n1
raft:
  bind: 127.0.0.1:7001
  peers:
    - id: n1
      addr: 127.0.0.1:7001
    - id: n2
      addr: 127.0.0.1:7002
http:
  addr: 127.0.0.1:9101
frontends:
  - name: web
    bind: 127.0.0.1:8001
    backend: app
backends:
  - name: app
    cookie: {name: JSESSIONID, mode: learn}
    servers:
      - name: A
        addr: 127.0.0.1:9001
      - name: B
        addr: 127.0.0.1:9002
`

func TestBaseIsValid(t *testing.T) {
	if _, err := Parse("t.yaml", []byte(base)); err != nil {
		t.Fatal(err)
	}
}

// edit returns base with each old text of the (old, new) pairs replaced by
// its new text; every old text must occur exactly once.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times in base", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml func(t *testing.T) string
		want []string // each error's exact "file:line: field: reason" prefix, in order
	}{
		// Syntax and document shape.
		{"bad yaml", func(t *testing.T) string { return edit(t, "  data_dir: /tmp/n1", " data_dir: /tmp/n1") },
			[]string{`t.yaml:3: did not find expected key`}},
		{"bad yaml scanner", func(t *testing.T) string { return edit(t, "  addr: 127.0.0.1:9101", "  addr: a: b") },
			[]string{`t.yaml:12: mapping values are not allowed in this context`}},
		{"bad yaml first line", func(t *testing.T) string { return "node: a: b\n" },
			[]string{`t.yaml:1: mapping values are not allowed in this context`}},
		{"tab indentation", func(t *testing.T) string { return edit(t, "  id: n1\n", "\tid: n1\n") },
			[]string{`t.yaml:2: found character that cannot start any token`}},
		{"unknown anchor", func(t *testing.T) string { return edit(t, "  addr: 127.0.0.1:9101", "  addr: *where") },
			[]string{`t.yaml:12: unknown anchor "where" referenced`}},
		{"empty file", func(t *testing.T) string { return "# nothing\n" },
			[]string{`t.yaml: empty config`}},
		{"not a mapping", func(t *testing.T) string { return "\n- node\n" },
			[]string{`t.yaml:2: expected a mapping at the top level, got a sequence`}},
		{"two documents", func(t *testing.T) string { return base + "---\nnode: {}\n" },
			[]string{`t.yaml:25: a second YAML document: a node config is a single document`}},

		// Backend options.
		{"unknown option", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    options: [forwardfor, http-close]")
		}, []string{`t.yaml:19: backends[0].options[1]: invalid value "http-close" (allowed: forwardfor, forwarded-proto-host, redispatch, httpclose)`}},
		{"duplicate option", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    options:\n      - httpclose\n      - httpclose")
		}, []string{`t.yaml:21: backends[0].options[1]: duplicate option "httpclose" (also options[0])`}},
		{"options not a list", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    options: forwardfor")
		}, []string{`t.yaml:19: backends[0].options: expected a sequence, got "forwardfor"`}},

		// mode tcp.
		{"tcp backend with HTTP-only settings", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    mode: tcp\n    cookie: {name: S, mode: insert}\n    options: [redispatch, forwardfor]\n    check: {httpchk: {uri: /}}")
		}, []string{
			`t.yaml:14: frontends[0].mode: http frontend on backend "app" of mode tcp: the modes must match`,
			`t.yaml:20: backends[0].cookie: HTTP-only setting on a mode tcp backend (a TCP connection carries no cookie; stick: {on: src} binds source addresses)`,
			`t.yaml:21: backends[0].options[1]: HTTP-only setting on a mode tcp backend: option forwardfor adds or reads HTTP header fields`,
			`t.yaml:22: backends[0].check.httpchk: HTTP-only setting on a mode tcp backend (mode tcp checks connect to the server)`,
		}},
		{"tcp frontend mode and tls", func(t *testing.T) string {
			return edit(t, "    backend: app\n", "    backend: app\n    mode: tcp\n    tls: {certs: [{cert_file: c, key_file: k}]}\n")
		}, []string{
			`t.yaml:17: frontends[0].mode: tcp frontend on backend "app" of mode http: the modes must match`,
			`t.yaml:18: frontends[0].tls: not supported with mode tcp (the TCP engine relays bytes; terminate TLS on the servers)`,
		}},
		{"bad mode and negative tunnel", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    mode: udp\n    stick: {on: dst, expire: -1s}") + "timeouts: {tunnel: -1s}\n"
		}, []string{
			`t.yaml:19: backends[0].mode: invalid value "udp" (allowed: http, tcp)`,
			`t.yaml:20: backends[0].stick.on: invalid value "dst" (allowed: src)`,
			`t.yaml:20: backends[0].stick.expire: must not be negative (0: never)`,
			`t.yaml:20: backends[0].stick: only with mode tcp (HTTP backends stick with a cookie)`,
			`t.yaml:26: timeouts.tunnel: must not be negative (0: unset)`,
		}},
		{"shutdown grace out of range", func(t *testing.T) string { return base + "timeouts: {shutdown: -1s}\n" },
			[]string{`t.yaml:25: timeouts.shutdown: must be greater than 0`}},
		{"shutdown grace too long", func(t *testing.T) string { return base + "timeouts: {shutdown: 25h}\n" },
			[]string{`t.yaml:25: timeouts.shutdown: 25h0m0s is more than 24h`}},

		// Unknown and duplicate fields.
		{"unknown field", func(t *testing.T) string {
			return edit(t, "    cookie: {name: JSESSIONID, mode: learn}", "    balanse: leastconn")
		}, []string{`t.yaml:19: backends[0].balanse: unknown field (known: name, mode, balance, cookie, learn_commit, stick, check, servers, servers_from, options)`}},
		{"unknown section", func(t *testing.T) string { return edit(t, "http:", "htp:") },
			[]string{
				`t.yaml:1: http.addr: required`, // absent: line of the enclosing (root) mapping
				`t.yaml:11: htp: unknown field (known: node, raft, http, admin, timeouts, proposals, frontends, backends, eips, eip_mover, global, access_log, log, route53)`,
			}},
		{"unknown in flow mapping", func(t *testing.T) string {
			return edit(t, "{name: JSESSIONID, mode: learn}", "{name: JSESSIONID, mode: learn, sticky: true}")
		}, []string{`t.yaml:19: backends[0].cookie.sticky: unknown field (known: name, mode, indirect, nocache, httponly, secure, dynamic_key, maxidle, maxlife)`}},
		{"duplicate field", func(t *testing.T) string { return edit(t, "  data_dir: /tmp/n1", "  id: n2") },
			[]string{
				`t.yaml:1: node.data_dir: required`,
				`t.yaml:3: node.id: duplicate field (first set at line 2)`,
			}},

		// Type errors.
		{"duplicate section", func(t *testing.T) string { return base + "raft:\n" },
			[]string{`t.yaml:25: raft: duplicate field (first set at line 4)`}},
		{"invalid duration", func(t *testing.T) string { return base + "timeouts:\n  connect: 1x\n" },
			[]string{`t.yaml:26: timeouts.connect: invalid duration "1x"`}},
		{"raft duration", func(t *testing.T) string { return edit(t, "  bind: 127.0.0.1:7001", "  heartbeat_timeout: 1x") },
			[]string{
				`t.yaml:4: raft.bind: required`,
				`t.yaml:5: raft.heartbeat_timeout: invalid duration "1x"`,
			}},
		{"invalid integer", func(t *testing.T) string { return base + "        weight: heavy\n" },
			[]string{`t.yaml:25: backends[0].servers[1].weight: invalid integer "heavy"`}},
		{"quoted integer", func(t *testing.T) string { return base + "proposals: {batch_size: \"64\"}\n" },
			[]string{`t.yaml:25: proposals.batch_size: expected an integer, got the quoted string "64"`}},
		{"negative trailing_logs", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  trailing_logs: -1\n")
		}, []string{`t.yaml:6: raft.trailing_logs: invalid non-negative integer "-1"`}},
		{"invalid boolean", func(t *testing.T) string {
			return edit(t, "mode: learn}", "mode: learn, secure: maybe}")
		}, []string{`t.yaml:19: backends[0].cookie.secure: invalid boolean "maybe"`}},
		{"mapping for scalar", func(t *testing.T) string { return edit(t, "  id: n1\n", "  id: {n: 1}\n") },
			[]string{`t.yaml:2: node.id: expected a string, got a mapping`}}, // and no "required" for it
		{"scalar for mapping", func(t *testing.T) string {
			return edit(t, "http:\n  addr: 127.0.0.1:9101", "http: 127.0.0.1:9101\n# -")
		},
			[]string{`t.yaml:11: http: expected a mapping, got "127.0.0.1:9101"`}},
		{"mapping for sequence", func(t *testing.T) string {
			return edit(t, "      - name: A\n        addr: 127.0.0.1:9001\n      - name: B\n        addr: 127.0.0.1:9002\n",
				"      name: A\n      addr: 127.0.0.1:9001\n")
		}, []string{`t.yaml:20: backends[0].servers: expected a sequence, got a mapping`}}, // and no "at least one server"

		// Required fields: the line of the enclosing mapping.
		{"missing server addr", func(t *testing.T) string { return edit(t, "        addr: 127.0.0.1:9002", "        weight: 2") },
			[]string{`t.yaml:23: backends[0].servers[1].addr: required`}},
		{"missing node id", func(t *testing.T) string { return edit(t, "  id: n1\n", "  az: a\n") },
			[]string{`t.yaml:1: node.id: required`}},
		{"missing cookie mode", func(t *testing.T) string { return edit(t, "{name: JSESSIONID, mode: learn}", "{name: JSESSIONID}") },
			[]string{`t.yaml:19: backends[0].cookie.mode: required (one of: learn, prefix, insert, rewrite)`}},
		{"null value is absent", func(t *testing.T) string { return edit(t, "  data_dir: /tmp/n1", "  data_dir:") },
			[]string{`t.yaml:3: node.data_dir: required`}},

		// Addresses.
		{"missing port", func(t *testing.T) string { return edit(t, "        addr: 127.0.0.1:9002", "        addr: 10.0.0.5") },
			[]string{`t.yaml:24: backends[0].servers[1].addr: missing port in address "10.0.0.5"`}},
		{"bad port", func(t *testing.T) string { return edit(t, "  addr: 127.0.0.1:9101", "  addr: 127.0.0.1:http") },
			[]string{`t.yaml:12: http.addr: invalid port "http" in address "127.0.0.1:http" (want a number)`}},
		{"port out of range", func(t *testing.T) string { return edit(t, "    bind: 127.0.0.1:8001", "    bind: 127.0.0.1:80000") },
			[]string{`t.yaml:15: frontends[0].bind: invalid port "80000" in address "127.0.0.1:80000" (want 0..65535)`}},
		{"bad host", func(t *testing.T) string { return edit(t, "        addr: 127.0.0.1:9001", "        addr: \"a b:80\"") },
			[]string{`t.yaml:22: backends[0].servers[0].addr: invalid host "a b" in address "a b:80"`}},
		{"server port 0", func(t *testing.T) string { return edit(t, "        addr: 127.0.0.1:9001", "        addr: 127.0.0.1:0") },
			[]string{`t.yaml:22: backends[0].servers[0].addr: port 0 in address "127.0.0.1:0"`}},
		{"server unspecified", func(t *testing.T) string {
			return edit(t, "        addr: 127.0.0.1:9001", "        addr: 0.0.0.0:9001")
		},
			[]string{`t.yaml:22: backends[0].servers[0].addr: unspecified address "0.0.0.0:9001" cannot be dialed`}},

		// Raft.
		{"unspecified bind without advertise", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001", "  bind: 0.0.0.0:7001\n  insecure: true")
		},
			[]string{`t.yaml:5: raft.advertise: defaults to raft.bind "0.0.0.0:7001", an address on all interfaces that peers cannot dial; set raft.advertise`}},
		{"unspecified advertise", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  advertise: '[::]:7001'\n")
		}, []string{`t.yaml:6: raft.advertise: unspecified address "[::]:7001" cannot be advertised to peers; set raft.advertise`}},
		{"advertise differs from peer", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  advertise: 127.0.0.2:7001\n")
		}, []string{`t.yaml:9: raft.peers[0].addr: "127.0.0.1:7001" is not this node's raft.advertise "127.0.0.2:7001"`}},
		{"node not in peers", func(t *testing.T) string { return edit(t, "    - id: n1", "    - id: n3") },
			[]string{`t.yaml:6: raft.peers: this node (node.id "n1") is not among the peers`}},
		{"duplicate peers", func(t *testing.T) string {
			return edit(t, "    - id: n2\n      addr: 127.0.0.1:7002", "    - id: n1\n      addr: 127.0.0.1:7001")
		}, []string{
			`t.yaml:9: raft.peers[1].id: duplicate peer id "n1" (also raft.peers[0])`,
			`t.yaml:10: raft.peers[1].addr: duplicate peer address "127.0.0.1:7001" (also raft.peers[0])`,
		}},
		{"no peers with bootstrap", func(t *testing.T) string {
			return edit(t, "  peers:\n    - id: n1\n      addr: 127.0.0.1:7001\n    - id: n2\n      addr: 127.0.0.1:7002\n", "  peers: []\n\n\n\n\n")
		}, []string{`t.yaml:6: raft.peers: required when raft.bootstrap is true`}},
		{"lease above heartbeat", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  leader_lease_timeout: 3s\n")
		}, []string{`t.yaml:6: raft.leader_lease_timeout: 3s must not exceed raft.heartbeat_timeout 2s`}},
		{"election below heartbeat", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  election_timeout: 500ms\n")
		}, []string{`t.yaml:6: raft.election_timeout: 500ms must not be less than raft.heartbeat_timeout 2s`}},
		{"too short", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  commit_timeout: 0s\n")
		}, []string{`t.yaml:6: raft.commit_timeout: 0s is too short: must be at least 1ms`}},

		// Timeouts and proposals.
		{"zero timeout", func(t *testing.T) string { return base + "timeouts: {client: 0s}\n" },
			[]string{`t.yaml:25: timeouts.client: must be greater than 0`}},
		{"proposal sizes", func(t *testing.T) string { return base + "proposals:\n  batch_size: 100000\n  queue_size: 10\n" },
			[]string{
				`t.yaml:26: proposals.batch_size: 100000 is out of range 1..65536`,
				`t.yaml:27: proposals.queue_size: 10 must be at least batch_size (100000)`,
			}},

		// Frontends.
		{"unknown backend", func(t *testing.T) string { return edit(t, "    backend: app", "    backend: ap") },
			[]string{`t.yaml:16: frontends[0].backend: unknown backend "ap" (defined: app)`}},
		{"duplicate frontend", func(t *testing.T) string {
			return edit(t, "backends:\n", "  - {name: web, bind: ':8001', backend: app}\nbackends:\n")
		},
			[]string{
				`t.yaml:17: frontends[1].name: duplicate frontend name "web" (also frontends[0])`,
				`t.yaml:17: frontends[1].bind: ":8001" conflicts with frontends[0].bind "127.0.0.1:8001"`,
			}},
		{"frontend on ops port", func(t *testing.T) string { return edit(t, "    bind: 127.0.0.1:8001", "    bind: 127.0.0.1:9101") },
			[]string{`t.yaml:15: frontends[0].bind: "127.0.0.1:9101" conflicts with http.addr "127.0.0.1:9101"`}},

		// Backends, cookies, servers.
		{"balance enum", func(t *testing.T) string { return edit(t, "  - name: app\n", "  - name: app\n    balance: rr\n") },
			[]string{`t.yaml:19: backends[0].balance: invalid value "rr" (allowed: roundrobin, leastconn, source, random)`}},
		{"learn_commit enum", func(t *testing.T) string {
			return edit(t, "  - name: app\n", "  - name: app\n    learn_commit: always\n")
		},
			[]string{`t.yaml:19: backends[0].learn_commit: invalid value "always" (allowed: async, sync)`}},
		{"cookie mode enum", func(t *testing.T) string { return edit(t, "mode: learn", "mode: Insert") },
			[]string{`t.yaml:19: backends[0].cookie.mode: invalid value "Insert" (allowed: learn, prefix, insert, rewrite)`}},
		{"cookie name", func(t *testing.T) string { return edit(t, "name: JSESSIONID", "name: 'J SESSION'") },
			[]string{`t.yaml:19: backends[0].cookie.name: invalid cookie name "J SESSION": must be an RFC 6265 token`}},
		{"dynamic key with learn", func(t *testing.T) string { return edit(t, "mode: learn", "mode: learn, dynamic_key: k") },
			[]string{`t.yaml:19: backends[0].cookie.dynamic_key: only used with mode insert, prefix or rewrite`}},
		{"server cookie with dynamic key", func(t *testing.T) string {
			return edit(t, "mode: learn", "mode: insert, dynamic_key: k", "      - name: B\n", "      - name: B\n        cookie: b\n")
		}, []string{`t.yaml:24: backends[0].servers[1].cookie: would be ignored: the backend's cookie has a dynamic_key`}},
		{"no servers", func(t *testing.T) string {
			return edit(t, "    servers:\n      - name: A\n        addr: 127.0.0.1:9001\n      - name: B\n        addr: 127.0.0.1:9002\n", "    servers: []\n")
		}, []string{`t.yaml:20: backends[0].servers: at least one server is required`}},
		{"server name", func(t *testing.T) string { return edit(t, "      - name: B", "      - name: B/2") },
			[]string{`t.yaml:23: backends[0].servers[1].name: invalid server name "B/2": use only letters, digits, '.', '_' and '-'`}},
		{"duplicate server", func(t *testing.T) string { return edit(t, "      - name: B", "      - name: A") },
			[]string{
				`t.yaml:23: backends[0].servers[1].name: duplicate server name "A" (also backends[0].servers[0])`,
				`t.yaml:23: backends[0].servers[1].cookie: duplicate cookie value "A" (also backends[0].servers[0])`,
			}},
		{"server cookie with tilde", func(t *testing.T) string {
			return edit(t, "      - name: B\n", "      - name: B\n        cookie: 'b~1'\n")
		},
			[]string{`t.yaml:24: backends[0].servers[1].cookie: invalid cookie value "b~1"`}},
		{"server cookie collides with default", func(t *testing.T) string { return edit(t, "      - name: B\n", "      - name: B\n        cookie: A\n") },
			[]string{`t.yaml:24: backends[0].servers[1].cookie: duplicate cookie value "A" (also backends[0].servers[0])`}},
		{"weight", func(t *testing.T) string { return base + "        weight: 257\n" },
			[]string{`t.yaml:25: backends[0].servers[1].weight: 257 is out of range 0..256`}},
		{"duplicate backend", func(t *testing.T) string { return base + "  - name: app\n    servers: [{name: A, addr: 'h:1'}]\n" },
			[]string{`t.yaml:25: backends[1].name: duplicate backend name "app" (also backends[0])`}},

		// Admin API and TLS.
		{"admin without addr", func(t *testing.T) string {
			return base + "admin:\n  tokens: [{name: ops, role: write, secret: 0123456789abcdef}]\n"
		}, []string{`t.yaml:25: admin.addr: required when admin.tls or admin.tokens is set`}},
		{"admin addr conflicts", func(t *testing.T) string { return base + "admin: {addr: 127.0.0.1:9101}\n" },
			[]string{`t.yaml:25: admin.addr: "127.0.0.1:9101" conflicts with http.addr "127.0.0.1:9101"`}},
		{"admin token problems", func(t *testing.T) string {
			return base + `admin:
  addr: 127.0.0.1:9201
  tokens:
    - {name: ops, role: admin, secret: short}
    - {name: ops, role: read}
    - {name: a, role: write, secret: 0123456789abcdef, secret_file: /x}
    - {name: b, role: write, secret: 0123456789abcdef}
    - {name: c, role: write, secret: 0123456789abcdef}
    - {role: read, secret_file: /t}
`
		}, []string{
			`t.yaml:28: admin.tokens[0].role: invalid value "admin" (allowed: read, write)`,
			`t.yaml:28: admin.tokens[0].secret: too short (5 characters): use at least 16`,
			`t.yaml:29: admin.tokens[1].name: duplicate token name "ops" (also admin.tokens[0])`,
			`t.yaml:29: admin.tokens[1].secret: required: set secret or secret_file`,
			`t.yaml:30: admin.tokens[2].secret_file: set either secret or secret_file, not both`,
			`t.yaml:32: admin.tokens[4].secret: same secret as admin.tokens[3]: every token needs its own`,
			`t.yaml:33: admin.tokens[5].name: required`,
		}},
		{"unknown admin field", func(t *testing.T) string { return base + "admin: {addr: 127.0.0.1:9201, token: x}\n" },
			[]string{`t.yaml:25: admin.token: unknown field (known: addr, tls, insecure, tokens)`}},
		{"admin tls needs cert and key", func(t *testing.T) string {
			return base + "admin:\n  addr: 127.0.0.1:9201\n  tls: {ca_file: /ca.pem}\n"
		}, []string{
			`t.yaml:27: admin.tls.cert_file: required`,
			`t.yaml:27: admin.tls.key_file: required`,
		}},
		{"raft tls needs a ca", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  tls: {cert_file: /n1.pem, key_file: /n1-key.pem}\n")
		}, []string{`t.yaml:6: raft.tls.ca_file: required: mutual TLS between nodes needs the CA that signed every node's certificate`}},
		{"raft tls unknown field", func(t *testing.T) string {
			return edit(t, "  bind: 127.0.0.1:7001\n", "  bind: 127.0.0.1:7001\n  tls: {ca: /ca.pem}\n")
		}, []string{
			`t.yaml:6: raft.tls.ca: unknown field (known: ca_file, cert_file, key_file)`,
			`t.yaml:6: raft.tls.ca_file: required`,
			`t.yaml:6: raft.tls.cert_file: required`,
			`t.yaml:6: raft.tls.key_file: required`,
		}},

		// Several problems at once, reported in line order.
		{"many", func(t *testing.T) string {
			return edit(t,
				"  id: n1\n", "  id: n1\n  color: blue\n",
				"        addr: 127.0.0.1:9002", "        addr: 10.0.0.5",
				"  addr: 127.0.0.1:9101", "  addr: 127.0.0.1:9101x")
		}, []string{
			`t.yaml:3: node.color: unknown field (known: id, az, data_dir, role)`,
			`t.yaml:13: http.addr: invalid port "9101x"`,
			`t.yaml:25: backends[0].servers[1].addr: missing port in address "10.0.0.5"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml(t)))
			if c != nil {
				t.Errorf("config returned along with errors")
			}
			checkErrors(t, err, tc.want)
		})
	}
}

func TestParseMergeAndAliases(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field in merged mapping", base + "  - <<: {name: api, servers: [{name: X, addr: 'h:1'}], sticky: 1}\n",
			[]string{`t.yaml:25: backends[1].sticky: unknown field (known: name, mode, balance, cookie, learn_commit, stick, check, servers, servers_from, options)`}},
		{"merge of a scalar", base + "  - <<: 5\n    name: api\n    servers: [{name: X, addr: 'h:1'}]\n",
			[]string{`t.yaml:25: backends[1]: merge (<<) needs a mapping or a sequence of mappings, got "5"`}},
		{"explicit key wins over merged", base + "  - <<: {name: app, balance: source}\n    name: api\n    servers: [{name: X, addr: 'h:1'}]\n    balance: rr\n",
			[]string{`t.yaml:28: backends[1].balance: invalid value "rr"`}},
		{"null list item", base + "  -\n",
			[]string{
				`t.yaml:25: backends[1].name: required`,
				`t.yaml:25: backends[1].servers: at least one server is required`,
			}},
		{"non-string key", base + "[a]: 1\n",
			[]string{`t.yaml:25: mapping keys must be field names, got a sequence`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			checkErrors(t, err, tc.want)
		})
	}
}

// A node joining a running cluster may list no peers when it does not
// bootstrap; IPv6 addresses compare canonically.
func TestParseLegalEdges(t *testing.T) {
	for _, s := range []string{
		`node: {id: j, data_dir: /d}
raft: {bind: 127.0.0.1:7000, bootstrap: false}
http: {addr: 127.0.0.1:9000}
`,
		`node: {id: j, data_dir: /d}
raft:
  bind: "[::]:7000"
  advertise: "[FD00:0::1]:7000"
  insecure: true
  peers: [{id: j, addr: "[fd00::1]:7000"}, {id: k, addr: "[fd00::2]:7000"}]
http: {addr: "[::1]:9000"}
backends:
  - {name: unused, servers: [{name: s, addr: "h:1", weight: 0}], learn_commit: sync}
`,
	} {
		if _, err := Parse("t.yaml", []byte(s)); err != nil {
			t.Errorf("%v\n%s", err, s)
		}
	}
}
