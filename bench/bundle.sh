#!/usr/bin/env bash
# bench/bundle.sh DIR: packs what bench/proxy/run.sh needs into DIR, to run
# the haraft/HAProxy table on another (many-core) machine that has none of
# the tools: static haraftd and backend binaries, and haproxy, wrk, h2load
# (when installed), curl and openssl with their shared libraries and the
# dynamic loader, each behind a wrapper that runs it through the bundled
# loader. DIR/table.sh then runs the T = 1, 2, 4 table, plain and TLS,
# keep-alive and Connection: close (about 6 minutes at the default
# DURATION=4s); DIR/table.sh 1 runs only T=1 (a quick local check).
set -euo pipefail

out=${1:?usage: bundle.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mkdir -p "$out/bin" "$out/real" "$out/lib" "$out/proxy"
out=$(cd "$out" && pwd)

echo "bundle: static haraftd and backend" >&2
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$out/bin/haraftd" ./cmd/haraftd)
(cd "$root/bench/proxy/backend" && CGO_ENABLED=0 go build -trimpath -o "$out/bin/backend" .)
cp "$root/bench/proxy/run.sh" "$root/bench/proxy/lib.sh" "$out/proxy/"

loader=
for tool in haproxy wrk h2load curl openssl taskset; do
	path=$(command -v "$tool" || true)
	if [[ -z $path ]]; then
		echo "bundle: $tool is not installed here; left out" >&2
		continue
	fi
	cp "$path" "$out/real/$tool"
	# The shared libraries, and the loader (the line ldd prints without =>).
	while read -r lib; do
		[[ -f $lib ]] && cp -L "$lib" "$out/lib/"
	done < <(ldd "$path" | awk '/=> \// {print $3} /^\t\// {print $1}')
	l=$(ldd "$path" | awk '/^\t\// {print $1}' | head -1)
	[[ -n $l ]] && loader=$(basename "$l")
	cat >"$out/bin/$tool" <<EOF
#!/bin/sh
d=\$(cd "\$(dirname "\$0")/.." && pwd)
exec "\$d/lib/$loader" --library-path "\$d/lib" "\$d/real/$tool" "\$@"
EOF
	chmod +x "$out/bin/$tool"
done

cat >"$out/table.sh" <<'EOF'
#!/usr/bin/env bash
# table.sh [T...]: the haraft/HAProxy table at T proxy threads (default
# 1 2 4), plain and TLS, keep-alive and Connection: close. The proxy runs
# on CPUs 0..T-1, the backends and wrk on the rest. DURATION=4s per run.
set -uo pipefail
d=$(cd "$(dirname "$0")" && pwd)
export PATH=$d/bin:$PATH HARAFTD=$d/bin/haraftd BACKEND=$d/bin/backend
export DURATION=${DURATION:-4s} DIRECT=${DIRECT:-0}
ncpu=$(nproc)
threads=("$@")
[[ ${#threads[@]} -gt 0 ]] || threads=(1 2 4)
echo "machine: $ncpu CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for t in "${threads[@]}"; do
	load=$((ncpu - t))
	((load >= 1)) || { echo "T=$t: no CPU left for the load"; continue; }
	wt=$((load < 6 ? load : 6))
	for tls in 0 1; do
		for close in 0 1; do
			conns=256
			((close)) && conns=64
			echo
			echo "### T=$t tls=$tls close=$close conns=$conns wrk threads=$wt"
			THREADS=$t TLS=$tls CLOSE=$close CONNS=$conns WRK_THREADS=$wt "$d/proxy/run.sh" 2>&1 | tail -6
		done
	done
done
EOF
chmod +x "$out/table.sh"
echo "bundle: $out ($(du -sh "$out" | cut -f1)); run $out/table.sh" >&2
