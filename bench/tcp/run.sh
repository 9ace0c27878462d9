#!/usr/bin/env bash
# bench/tcp/run.sh: haraft `mode: tcp` and HAProxy 2.6 `mode tcp` side by
# side in one run: bulk stream throughput, short-connection rate, and
# memory per idle connection; prints haraft/HAProxy ratios.
#
# One server (tcpbench server, GOMAXPROCS=1), one HAProxy (nbthread 1) and
# one single-node haraft (GOMAXPROCS=1), each with one tcp listener to that
# server. The client is tcpbench (main.go).
#
# Environment:
#   BYTES=2000000000  bulk: bytes pushed through each proxy
#   BULK_CONNS=1      bulk: connections at once
#   RATE_N=20000      rate: short connections per proxy
#   RATE_C=16         rate: connections at once
#   IDLE_N=10000      idle connections per proxy (ulimit -n raised to the hard limit;
#                     lowered to what that allows: each proxy needs 2 × IDLE_N sockets)
#   SETTLE=3s         wait before each RSS reading
#   BASE_PORT=19300   ports BASE_PORT+1..BASE_PORT+5 are used
#   HARAFTD=PATH      a prebuilt haraftd instead of building this tree
#   KEEP=DIR          keep logs and configs in DIR instead of a temp dir
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
me=tcp/run.sh
# shellcheck source=../proxy/lib.sh
. "$here/../proxy/lib.sh"
BYTES=${BYTES:-2000000000}
BULK_CONNS=${BULK_CONNS:-1}
RATE_N=${RATE_N:-20000}
RATE_C=${RATE_C:-16}
IDLE_N=${IDLE_N:-10000}
SETTLE=${SETTLE:-3s}
BASE_PORT=${BASE_PORT:-19300}

for tool in haproxy go; do
	command -v "$tool" >/dev/null || { echo "$me: $tool is not installed" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"
# A proxy holds two sockets per connection (client and server).
# HAProxy wants 2 × maxconn plus its own few under the limit.
if (($(ulimit -n) < 2 * IDLE_N + 300)); then
	IDLE_N=$((($(ulimit -n) - 300) / 2))
	echo "$me: ulimit -n $(ulimit -n) (hard limit) allows IDLE_N=$IDLE_N idle connections at most: using that" >&2
fi

bench_workdir /tmp/haraft-tcpbench.XXXXXX

srv=$((BASE_PORT + 1))
hap=$((BASE_PORT + 2))
har=$((BASE_PORT + 3))
har_raft=$((BASE_PORT + 4))
har_ops=$((BASE_PORT + 5))
ports_free "$srv" "$hap" "$har" "$har_raft" "$har_ops"

echo "building into $work ..." >&2
(cd "$root" && go build -o "$work/tcpbench" ./bench/tcp)
if [ -n "${HARAFTD:-}" ]; then
	cp "$HARAFTD" "$work/haraftd"
else
	(cd "$root" && go build -o "$work/haraftd" ./cmd/haraftd)
fi

wait_tcp() { # port: wait until something listens on it
	local i
	for i in $(seq 1 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$me: port $1 did not open; logs in $work" >&2
	KEEP=$work
	exit 1
}

GOMAXPROCS=1 "$work/tcpbench" server -addr "127.0.0.1:$srv" >"$work/server.log" 2>&1 &
pids+=($!)

maxconn=$((IDLE_N + 50))
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn $maxconn
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
listen tcp
    bind 127.0.0.1:$hap
    server A 127.0.0.1:$srv
CFG
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
hap_pid=$!

{
	haraft_single_node "$har_raft"
	cat <<CFG
http: {addr: 127.0.0.1:$har_ops}
global: {maxconn: $maxconn}
timeouts: {client: 120s, server: 120s}
access_log: {target: off}
frontends:
  - {name: tcp, bind: 127.0.0.1:$har, backend: tcp, mode: tcp}
backends:
  - name: tcp
    mode: tcp
    servers:
      - {name: A, addr: 127.0.0.1:$srv}
CFG
} >"$work/haraft.yaml"
GOMAXPROCS=1 "$work/haraftd" -config "$work/haraft.yaml" -log-level warn >"$work/haraft.log" 2>&1 &
pids+=($!)
har_pid=$!

wait_tcp "$srv"
wait_tcp "$hap"
wait_tcp "$har"

echo "haraft $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo ?) vs $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$work/results
: >"$out"
measure() { # what args...: run against both proxies, HAProxy first
	"$work/tcpbench" "$1" -name HAProxy -addr "127.0.0.1:$hap" "${@:2}" -pid "$hap_pid" | tee -a "$out"
	"$work/tcpbench" "$1" -name haraft -addr "127.0.0.1:$har" "${@:2}" -pid "$har_pid" | tee -a "$out"
}
measure bulk -bytes "$BYTES" -conns "$BULK_CONNS"
measure rate -n "$RATE_N" -c "$RATE_C"
measure idle -n "$IDLE_N" -c "$RATE_C" -settle "$SETTLE"

# The last number of each line: MB/s, connections/s, KB per connection.
ratio() { # pattern label: haraft / HAProxy of the lines matching pattern
	awk -v pat="$1" -v label="$2" '
		$0 ~ pat { for (i = NF; i > 0; i--) if ($i ~ /^[0-9.]+$/) { v[$1] = $i; break } }
		END { if (v["HAProxy:"] > 0) printf "%-46s haraft/HAProxy = %.2f\n", label, v["haraft:"] / v["HAProxy:"] }' "$out"
}
echo "--"
ratio "bulk" "bulk throughput (higher is better)"
ratio "short connections" "connection rate (higher is better)"
ratio "idle connections" "memory per idle connection (lower is better)"
