# bench/proxy/lib.sh: what run.sh and idle.sh share. Source it after
# setting me to the script's name (for messages).

# bench_workdir TEMPLATE: sets work to $KEEP (created if need be) or to a
# fresh mktemp -d TEMPLATE, and pids to an empty list; on exit every pid in
# pids is killed and waited for, and work removed unless KEEP is set.
bench_workdir() {
	if [[ -n ${KEEP:-} ]]; then
		work=$KEEP
		mkdir -p "$work"
	else
		work=$(mktemp -d "$1")
	fi
	pids=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	[[ -n ${KEEP:-} ]] || rm -rf "$work"
}

ports_free() { # port...: exit if any of them is in use
	local p
	for p in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$me: port $p is in use; set BASE_PORT" >&2
			exit 1
		fi
	done
}

wait_http() { # url: wait until it answers
	local i
	for i in $(seq 1 150); do
		curl ${CURL_INSECURE:+-k} -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "$me: $1 did not come up; logs in $work" >&2
	KEEP=$work
	exit 1
}

# haraft_single_node RAFT_PORT: the YAML that makes haraftd a one-node
# cluster on loopback for a bench (node, raft), short timeouts so it leads
# at once; the caller appends http, frontends and backends.
haraft_single_node() {
	cat <<CFG
node: {id: bench, data_dir: $work/raft}
raft:
  bind: 127.0.0.1:$1
  peers: [{id: bench, addr: 127.0.0.1:$1}]
  heartbeat_timeout: 200ms
  election_timeout: 200ms
  leader_lease_timeout: 100ms
CFG
}
