#!/usr/bin/env bash
# bench/failover/run.sh: haraft's failover timeline beside keepalived + HAProxy,
# in network namespaces on this machine (root, ip, tc, iptables; the anchor
# needs keepalived and haproxy). Prints one Markdown table.
#
#   bash bench/failover/run.sh              # 20 runs per fault
#   RUNS=3 bash bench/failover/run.sh       # quicker
#   bash bench/failover/run.sh -faults leader-kill -anchor master-kill -v
#
# Extra arguments go to the Go program (go run ./bench/failover -h).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
for tool in ip tc iptables go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
for tool in keepalived haproxy; do
	command -v "$tool" >/dev/null || echo "run.sh: $tool is not installed: the keepalived anchor is skipped" >&2
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/failover" ./bench/failover
"$bin/failover" -runs "${RUNS:-20}" "$@"
