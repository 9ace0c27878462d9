#!/usr/bin/env bash
# bench/proxy/run.sh: HAProxy 2.6 and haraft side by side, in one run.
#
# Starts two anchor backends (A, B), one HAProxy (nbthread 1) and one
# single-node haraft (GOMAXPROCS=1, real Raft + boltdb), each with an
# insert-mode listener (cookie SERVERID insert indirect nocache) and a
# learn-mode listener (JSESSIONID learned from the application), loads every
# listener in turn with wrk -t1 -c64 on loopback with keep-alive, and prints
# req/s, p50, p99 and the haraft/HAProxy ratios in one table.
#
# See README.md for the CPU layout and why it is fair. Environment:
#   DURATION=10s    wrk duration per measurement
#   ROUNDS=1        rounds; each round measures every target once, in
#                   alternating order; the table shows each figure's median
#   PIN=proxy       CPU layout: proxy = the proxy under test is pinned to
#                   PROXY_CPU, wrk and the backends run anywhere; split = also
#                   pin wrk and the backends to LOAD_CPU; none = no pinning
#   PROXY_CPU=0-(THREADS-1) LOAD_CPU=THREADS-(nproc-1)  taskset CPU lists
#   BASE_PORT=19100 ports BASE_PORT..BASE_PORT+9 are used
#   DIRECT=1        also measure the backend answered directly (the ceiling)
#   SIMULTANEOUS=1  load HAProxy and haraft at the same time (two wrk), both
#                   pinned to PROXY_CPU: on a machine busy with other work,
#                   both then see the same conditions (see README)
#   PROFILE=FILE    record 5 s of haraft under insert load with perf (user and
#                   kernel stacks) into FILE; read it with perf report -i FILE
#   TRACE=FILE      record a 5 s Go execution trace of haraft under insert
#                   load (http.debug's /debug/pprof/trace) into FILE; read
#                   it with go tool trace FILE, or go tool trace
#                   -pprof=sched FILE > sched.pprof for where goroutines
#                   waited to run
#   KEEP=DIR        keep logs and configs in DIR instead of a temp dir
#   ACCESS_LOG=off  haraft's access log: off (as HAProxy here, which logs
#                   nothing), file (httplog lines to a file in the work dir),
#                   json (JSON lines to that file)
#   THREADS=1       GOMAXPROCS of haraft and nbthread of HAProxy; the proxy
#                   CPU list defaults to the first THREADS CPUs, the load's
#                   to the rest
#   CONNS=64        wrk connections (WRK_THREADS=1 wrk threads)
#   CLOSE=1         every request carries Connection: close (a new
#                   connection, and with TLS a new handshake, per request)
#   TLS=1           HTTPS: both proxies terminate TLS with one ECDSA P-256
#                   certificate (HAProxy bind ... ssl crt, haraft tls:),
#                   wrk speaks HTTP/1.1 over TLS; with h2load installed
#                   (Debian nghttp2-client) HTTP/2 is measured too
# The cpu column is the proxy's CPU time (utime+stime from /proc/PID/stat)
# over the run, as used/available seconds (available = THREADS x duration).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
me=run.sh
# shellcheck source=lib.sh
. "$here/lib.sh"
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
PIN=${PIN:-proxy}
PROXY_CPU=${PROXY_CPU:-0-$((${THREADS:-1} - 1))}
LOAD_CPU=${LOAD_CPU:-${THREADS:-1}-$(($(nproc) - 1))}
BASE_PORT=${BASE_PORT:-19100}
DIRECT=${DIRECT:-1}
SIMULTANEOUS=${SIMULTANEOUS:-0}
PROFILE=${PROFILE:-}
TRACE=${TRACE:-}
ACCESS_LOG=${ACCESS_LOG:-off}
THREADS=${THREADS:-1}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-1}
CLOSE=${CLOSE:-0}
TLS=${TLS:-0}
scheme=http
curl_k=()
wrk_close=()
[[ $CLOSE == 1 ]] && wrk_close=(-H "Connection: close")
if [[ $TLS == 1 ]]; then
	scheme=https
	curl_k=(-k)
	export CURL_INSECURE=1
fi


need=(haproxy wrk curl taskset)
[[ $TLS == 1 ]] && need+=(openssl)
[[ -n ${HARAFTD:-} && -n ${BACKEND:-} ]] || need+=(go)
for tool in "${need[@]}"; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done

bench_workdir /tmp/haraft-bench.XXXXXX

port_a=$((BASE_PORT + 1))
port_b=$((BASE_PORT + 2))
hap_insert=$((BASE_PORT + 3))
hap_learn=$((BASE_PORT + 4))
har_insert=$((BASE_PORT + 5))
har_learn=$((BASE_PORT + 6))
har_raft=$((BASE_PORT + 7))
har_ops=$((BASE_PORT + 8))
ports_free "$port_a" "$port_b" "$hap_insert" "$hap_learn" "$har_insert" "$har_learn" "$har_raft" "$har_ops"

on_proxy_cpu=()
on_load_cpu=()
case $PIN in
proxy) on_proxy_cpu=(taskset -c "$PROXY_CPU") ;;
split)
	on_proxy_cpu=(taskset -c "$PROXY_CPU")
	on_load_cpu=(taskset -c "$LOAD_CPU")
	;;
none) ;;
*)
	echo "run.sh: PIN must be proxy, split or none" >&2
	exit 1
	;;
esac

echo "building into $work ..." >&2
if [ -n "${BACKEND:-}" ]; then
	cp "$BACKEND" "$work/backend" # a prebuilt bench/proxy/backend
else
	(cd "$here/backend" && go build -o "$work/backend" .)
fi
if [ -n "${HARAFTD:-}" ]; then
	cp "$HARAFTD" "$work/haraftd" # a prebuilt haraftd (to compare two builds in turn)
else
	(cd "$root" && go build -o "$work/haraftd" ./cmd/haraftd)
fi

# The backends: the anchor's Go app server, one P each (as in DESIGN.md).
GOMAXPROCS=1 "${on_load_cpu[@]}" "$work/backend" -addr "127.0.0.1:$port_a" -name A >"$work/backend-a.log" 2>&1 &
pids+=($!)
GOMAXPROCS=1 "${on_load_cpu[@]}" "$work/backend" -addr "127.0.0.1:$port_b" -name B >"$work/backend-b.log" 2>&1 &
pids+=($!)

# HAProxy: the anchor's configuration, plus a learn-mode listener (HAProxy
# learns JSESSIONID with a stick table, the closest equivalent of haraft's
# learn mode).
hap_ssl=
har_tls=
if [[ $TLS == 1 ]]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
		-keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
	cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"
	hap_ssl=" ssl crt $work/haproxy.pem alpn h2,http/1.1"
	har_tls=", tls: {certs: [{cert_file: $work/cert.pem, key_file: $work/key.pem}]}"
fi
cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 8000
    nbthread $THREADS
    tune.ssl.default-dh-param 2048
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
listen webfarm
    bind 127.0.0.1:$hap_insert$hap_ssl
    balance roundrobin
    cookie SERVERID insert indirect nocache
    option forwardfor
    http-reuse always
    server A 127.0.0.1:$port_a cookie A check inter 2s
    server B 127.0.0.1:$port_b cookie B check inter 2s
listen learn
    bind 127.0.0.1:$hap_learn$hap_ssl
    balance roundrobin
    option forwardfor
    http-reuse always
    stick-table type string len 64 size 1m expire 30m
    stick match req.cook(JSESSIONID)
    stick store-response res.cook(JSESSIONID)
    server A 127.0.0.1:$port_a check inter 2s
    server B 127.0.0.1:$port_b check inter 2s
EOF
"${on_proxy_cpu[@]}" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
hap_pid=$!

# haraft: one node, real Raft with boltdb on disk, the same two listeners.
{
	haraft_single_node "$har_raft"
	cat <<EOF
http: {addr: 127.0.0.1:$har_ops$([[ -n $TRACE ]] && echo ', debug: true')}
frontends:
  - {name: insert, bind: 127.0.0.1:$har_insert, backend: ins$har_tls}
  - {name: learn, bind: 127.0.0.1:$har_learn, backend: lrn$har_tls}
backends:
  - name: ins
    cookie: {name: SERVERID, mode: insert, indirect: true, nocache: true}
    servers: &servers
      - {name: A, addr: 127.0.0.1:$port_a, cookie: A}
      - {name: B, addr: 127.0.0.1:$port_b, cookie: B}
  - name: lrn
    cookie: {name: JSESSIONID, mode: learn}
    servers: *servers
EOF
} >"$work/haraft.yaml"
case $ACCESS_LOG in
off) echo "access_log: {target: off}" >>"$work/haraft.yaml" ;;
file) echo "access_log: {target: 'file:$work/access.log'}" >>"$work/haraft.yaml" ;;
json) echo "access_log: {target: 'file:$work/access.log', format: json}" >>"$work/haraft.yaml" ;;
*) echo "$me: ACCESS_LOG=$ACCESS_LOG: want off, file or json" >&2; exit 1 ;;
esac
GOMAXPROCS=$THREADS "${on_proxy_cpu[@]}" "$work/haraftd" -config "$work/haraft.yaml" -log-level warn >"$work/haraft.log" 2>&1 &
pids+=($!)
har_pid=$!

wait_http "http://127.0.0.1:$port_a/"
wait_http "http://127.0.0.1:$port_b/"
wait_http "$scheme://127.0.0.1:$hap_insert/"
wait_http "$scheme://127.0.0.1:$har_insert/"

# learn_cookie URL: the JSESSIONID the application hands out through the
# proxy, which the proxy learns.
learn_cookie() {
	curl "${curl_k[@]}" -fs -D - -o /dev/null "$1" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: JSESSIONID=\([^;]*\).*/\1/p' | head -1
}
hap_sess=$(learn_cookie "$scheme://127.0.0.1:$hap_learn/")
har_sess=$(learn_cookie "$scheme://127.0.0.1:$har_learn/")
[[ -n $hap_sess && -n $har_sess ]] || { echo "run.sh: no JSESSIONID learned" >&2; exit 1; }
sleep 0.5 # let haraft commit the binding (it serves it before, too)
# Both proxies must route the learned session to the server that set it.
for url in "$scheme://127.0.0.1:$hap_learn/|$hap_sess" "$scheme://127.0.0.1:$har_learn/|$har_sess"; do
	if [[ -n $(curl "${curl_k[@]}" -fs -D - -o /dev/null -H "Cookie: JSESSIONID=${url#*|}" "${url%|*}" | grep -i '^set-cookie') ]]; then
		echo "run.sh: ${url%|*} did not keep the learned session" >&2
		exit 1
	fi
done

cpu_ticks() { # pid: utime+stime in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)

# measure NAME URL COOKIE PID: one wrk run; appends "NAME rps p50 p99 cpu" to results.
to_ms() { # wrk latency (123.45us|1.23ms|1.02s) -> ms
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}
declare -A wrk_pid cpu_t0
warm() { # url cookie: a short unmeasured run first
	"${on_load_cpu[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "${wrk_close[@]}" -H "Cookie: $2" "$1" >/dev/null 2>&1
}
start() { # name url cookie pid: start a measured wrk run in the background
	cpu_t0[$1]=$(cpu_ticks "$4")
	"${on_load_cpu[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "${wrk_close[@]}" -H "Cookie: $3" "$2" >"$work/wrk-$1-$round.txt" 2>&1 &
	wrk_pid[$1]=$!
}
finish() { # name pid: wait for the run; append "name rps p50 p99 cpu us/request" to the round's results
	local name=$1 pid=$2 out t0 t1 secs
	wait "${wrk_pid[$name]}"
	t1=$(cpu_ticks "$pid")
	t0=${cpu_t0[$name]}
	out=$(cat "$work/wrk-$name-$round.txt")
	local rps p50 p99 errs
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
	[[ -z $errs ]] || echo "run.sh: $name: $errs" >&2
	secs=${DURATION%s}
	local n cpu=- usreq=-
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	if [[ $pid != 0 ]]; then
		cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" -v t="$THREADS" 'BEGIN {printf "%.1f/%d", d / hz, s * t}')
		usreq=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f", 1e6 * d / hz / n}')
	fi
	echo "$name $rps $p50 $p99 $cpu $usreq" >>"$work/results-$round.txt"
	echo "  $name: $rps req/s, p50 $p50 ms, p99 $p99 ms, proxy cpu used $cpu s of available, $usreq us cpu/request" >&2
}
measure() { # name url cookie pid: one run alone
	warm "$2" "$3"
	start "$@"
	finish "$1" "$4"
}
# pair MODE HAPURL HAPCOOKIE HARURL HARCOOKIE: both proxies of a mode, one
# after the other, or at once with SIMULTANEOUS=1.
pair() {
	local m=$1
	if [[ $SIMULTANEOUS == 1 ]]; then
		warm "$2" "$3"
		warm "$4" "$5"
		start "haproxy-$m" "$2" "$3" "$hap_pid"
		start "haraft-$m" "$4" "$5" "$har_pid"
		finish "haproxy-$m" "$hap_pid"
		finish "haraft-$m" "$har_pid"
		return
	fi
	local who
	for who in $order; do
		if [[ $who == hap ]]; then
			measure "haproxy-$m" "$2" "$3" "$hap_pid"
		else
			measure "haraft-$m" "$4" "$5" "$har_pid"
		fi
	done
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the figures)" >&2
for round in $(seq 1 "$ROUNDS"); do
	echo "round $round" >&2
	: >"$work/results-$round.txt"
	if [[ $DIRECT == 1 && $round == 1 ]]; then
		measure direct "http://127.0.0.1:$port_a/" "x=1" 0
	fi
	# Alternate the order between rounds so drift hits both proxies alike.
	if ((round % 2)); then
		order="hap har"
	else
		order="har hap"
	fi
	pair insert "$scheme://127.0.0.1:$hap_insert/" "SERVERID=A" "$scheme://127.0.0.1:$har_insert/" "SERVERID=A"
	if [[ -n $PROFILE && $round == 1 ]]; then
		"${on_load_cpu[@]}" wrk -t1 -c64 -d7s "${wrk_close[@]}" -H "Cookie: SERVERID=A" "$scheme://127.0.0.1:$har_insert/" >/dev/null &
		sleep 1
		perf record -q -F 2999 -g -o "$PROFILE" -p "$har_pid" -- sleep 5 >/dev/null 2>&1 ||
			echo "run.sh: perf record failed" >&2
		wait $!
	fi
	if [[ -n $TRACE && $round == 1 ]]; then
		"${on_load_cpu[@]}" wrk -t1 -c64 -d7s "${wrk_close[@]}" -H "Cookie: SERVERID=A" "$scheme://127.0.0.1:$har_insert/" >/dev/null &
		sleep 1
		curl -sf -o "$TRACE" "http://127.0.0.1:$har_ops/debug/pprof/trace?seconds=5" ||
			echo "run.sh: trace failed" >&2
		wait $!
	fi
	pair learn "$scheme://127.0.0.1:$hap_learn/" "JSESSIONID=$hap_sess" "$scheme://127.0.0.1:$har_learn/" "JSESSIONID=$har_sess"
done

# HTTP/2 over TLS: h2load (Debian nghttp2-client), insert mode, each proxy
# in turn; h2load prints no percentiles, so mean request time and CPU.
if [[ $TLS == 1 && $CLOSE == 0 ]] && command -v h2load >/dev/null; then
	echo >&2
	for who in haproxy:$hap_insert:$hap_pid haraft:$har_insert:$har_pid; do
		IFS=: read -r name port pid <<<"$who"
		t0=$(cpu_ticks "$pid")
		"${on_load_cpu[@]}" h2load -c "$CONNS" -m 8 -t "$WRK_THREADS" -D "${DURATION%s}" -H "Cookie: SERVERID=A" \
			"https://127.0.0.1:$port/" >"$work/h2load-$name.txt" 2>&1 || true
		t1=$(cpu_ticks "$pid")
		awk -v n="$name" -v d=$((t1 - t0)) -v hz="$hz" -v s="${DURATION%s}" -v t="$THREADS" '
			/^finished in/ {rps = $4}
			/^requests:/ {ok = $8}
			/^time for request:/ {mean = $5}
			END {printf "h2 %-8s %9.0f req/s, %s succeeded, mean %s, proxy cpu used %.1f/%d s, %.1f us cpu/request\n", n, rps, ok, mean, d / hz, s * t, (rps > 0 ? 1e6 * d / hz / (rps * s) : 0)}' \
			"$work/h2load-$name.txt" | tee -a "$work/h2.txt" >&2
	done
fi

# Per round, the ratios; then the median of every figure over the rounds.
echo >&2
for round in $(seq 1 "$ROUNDS"); do
	awk -v r="$round" '{rps[$1] = $2; us[$1] = $6}
		END {printf "round %d: insert %.2fx, learn %.2fx (req/s haraft/HAProxy); cpu per request %.2fx, %.2fx\n", r,
			rps["haraft-insert"] / rps["haproxy-insert"], rps["haraft-learn"] / rps["haproxy-learn"],
			us["haraft-insert"] / us["haproxy-insert"], us["haraft-learn"] / us["haproxy-learn"]}' "$work/results-$round.txt" >&2
done

echo
echo "haraft $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo ?) vs $(haproxy -v | head -1 | cut -d' ' -f1-3), wrk -t$WRK_THREADS -c$CONNS -d$DURATION, threads=$THREADS (proxy cpus $PROXY_CPU), tls=$TLS, close=$CLOSE, pinned=$PIN, simultaneous=$SIMULTANEOUS, median of $ROUNDS round(s)"
cat "$work"/results-*.txt | sort -k1,1 | awk '
	function median(list, n,    a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{rps[$1] = rps[$1] " " $2; p50[$1] = p50[$1] " " $3; p99[$1] = p99[$1] " " $4; cpu[$1] = cpu[$1] " " $5; us[$1] = us[$1] " " $6}
	END {
		for (k in rps) {rps[k] = median(rps[k]); p50[k] = median(p50[k]); p99[k] = median(p99[k]); cpu[k] = median(cpu[k]); us[k] = median(us[k])}
		printf "%-7s | %-36s | %-36s | %-22s\n", "mode", "HAProxy req/s  p50ms  p99ms cpu-s us/rq", "haraft  req/s  p50ms  p99ms cpu-s us/rq", "haraft/HAProxy rps p99 cpu/rq"
		printf "%s\n", "--------+--------------------------------------+--------------------------------------+------------------------"
		n = split("insert learn", modes, " ")
		for (i = 1; i <= n; i++) {
			m = modes[i]; h = "haproxy-" m; x = "haraft-" m
			printf "%-7s | %9d %6.2f %6.2f %8s %5.1f | %9d %6.2f %6.2f %8s %5.1f | %5.2fx %5.2fx %5.2fx\n", m, rps[h], p50[h], p99[h], cpu[h], us[h], rps[x], p50[x], p99[x], cpu[x], us[x], rps[x] / rps[h], p99[x] / p99[h], us[x] / us[h]
		}
		if ("direct" in rps) printf "direct  | backend A answered directly: %d req/s, p50 %.2f ms, p99 %.2f ms\n", rps["direct"], p50["direct"], p99["direct"]
		printf "learn/insert req/s: haraft %.3f, HAProxy %.3f\n", rps["haraft-learn"] / rps["haraft-insert"], rps["haproxy-learn"] / rps["haproxy-insert"]
	}'
[[ -f $work/h2.txt ]] && cat "$work/h2.txt"
exit 0
