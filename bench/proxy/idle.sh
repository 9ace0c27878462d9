#!/usr/bin/env bash
# bench/proxy/idle.sh: memory per idle keep-alive connection, haraft and
# HAProxy 2.6 side by side.
#
# Starts one backend, one HAProxy (nbthread 1) and one single-node haraft
# (GOMAXPROCS=1), each with one insert-mode listener as in run.sh; then, for
# each proxy in turn, opens N connections that each send one request and
# read its response, leaves them open and idle, and prints how much the
# proxy's resident set (VmRSS) grew per connection (idle/main.go).
#
# Environment:
#   N=5000          idle connections per proxy (the shell's ulimit -n must
#                   allow them: the script raises the soft limit to the hard one)
#   SETTLE=3s       wait before each RSS reading
#   BASE_PORT=19200 ports BASE_PORT+1..BASE_PORT+6 are used
#   HARAFTD=PATH    a prebuilt haraftd instead of building this tree
#   KEEP=DIR        keep logs and configs in DIR instead of a temp dir
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
me=idle.sh
# shellcheck source=lib.sh
. "$here/lib.sh"
N=${N:-5000}
SETTLE=${SETTLE:-3s}
BASE_PORT=${BASE_PORT:-19200}

for tool in haproxy curl go; do
	command -v "$tool" >/dev/null || { echo "idle.sh: $tool is not installed" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < N + 200)); then
	echo "idle.sh: ulimit -n $(ulimit -n) is too low for N=$N" >&2
	exit 1
fi

bench_workdir /tmp/haraft-idle.XXXXXX

port_a=$((BASE_PORT + 1))
hap=$((BASE_PORT + 2))
har=$((BASE_PORT + 3))
har_raft=$((BASE_PORT + 4))
har_ops=$((BASE_PORT + 5))
ports_free "$port_a" "$hap" "$har" "$har_raft" "$har_ops"

echo "building into $work ..." >&2
(cd "$here/backend" && go build -o "$work/backend" .)
(cd "$root" && go build -o "$work/idle" ./bench/proxy/idle)
if [ -n "${HARAFTD:-}" ]; then
	cp "$HARAFTD" "$work/haraftd"
else
	(cd "$root" && go build -o "$work/haraftd" ./cmd/haraftd)
fi

GOMAXPROCS=1 "$work/backend" -addr "127.0.0.1:$port_a" -name A >"$work/backend-a.log" 2>&1 &
pids+=($!)

maxconn=$((N + 1000))
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn $maxconn
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
listen webfarm
    bind 127.0.0.1:$hap
    cookie SERVERID insert indirect nocache
    option forwardfor
    http-reuse always
    server A 127.0.0.1:$port_a cookie A
CFG
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
hap_pid=$!

{
	haraft_single_node "$har_raft"
	cat <<CFG
http: {addr: 127.0.0.1:$har_ops}
timeouts: {client: 60s, http_keep_alive: 60s}
frontends:
  - {name: insert, bind: 127.0.0.1:$har, backend: ins}
backends:
  - name: ins
    cookie: {name: SERVERID, mode: insert, indirect: true, nocache: true}
    servers:
      - {name: A, addr: 127.0.0.1:$port_a, cookie: A}
CFG
} >"$work/haraft.yaml"
GOMAXPROCS=1 "$work/haraftd" -config "$work/haraft.yaml" -log-level warn >"$work/haraft.log" 2>&1 &
pids+=($!)
har_pid=$!

wait_http "http://127.0.0.1:$port_a/"
wait_http "http://127.0.0.1:$hap/"
wait_http "http://127.0.0.1:$har/"

echo "haraft $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo ?) vs $(haproxy -v | head -1 | cut -d' ' -f1-3), N=$N"
"$work/idle" -name HAProxy -addr "127.0.0.1:$hap" -pid "$hap_pid" -n "$N" -settle "$SETTLE"
"$work/idle" -name haraft -addr "127.0.0.1:$har" -pid "$har_pid" -n "$N" -settle "$SETTLE"
