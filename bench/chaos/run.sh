#!/usr/bin/env bash
# Long run of the in-process randomized fault schedules
# (integration/chaos_test.go): N schedules (default 1000), in chunks so a
# hung or crashed schedule is reported and the run goes on. Prints the count
# run, the violations found and the seeds to replay them:
#
#   bench/chaos/run.sh [N] [first-seed]
#   go test ./integration -run TestChaos -chaos.seed=SEED -v     # replay one
#
# Environment: CHUNK (schedules per process, default 25), STEPS (faults per
# schedule, default 8), CHUNK_TIMEOUT (default 30m), OUT (log dir).
set -u
N=${1:-1000}
FIRST=${2:-$(( $(date +%s) % 100000000 + 1 ))}
CHUNK=${CHUNK:-25}
STEPS=${STEPS:-8}
CHUNK_TIMEOUT=${CHUNK_TIMEOUT:-30m}
OUT=${OUT:-$(mktemp -d /tmp/haraft-chaos.XXXXXX)}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
go test -c -o "$OUT/integration.test" ./integration || exit 1

run=0; bad=(); hung=()
start=$(date +%s)
seed=$FIRST
while (( run < N )); do
	n=$(( N - run < CHUNK ? N - run : CHUNK ))
	log="$OUT/chunk-$seed.log"
	HARAFT_CHAOS_ARTIFACTS="$OUT" timeout -k 10s "$CHUNK_TIMEOUT" "$OUT/integration.test" \
		-test.run '^TestChaos$' -test.v -test.timeout 0 \
		-chaos.schedules "$n" -chaos.firstseed "$seed" -chaos.steps "$STEPS" >"$log" 2>&1
	rc=$?
	done_here=$(grep -c 'CHAOS DONE seed=' "$log")
	for s in $(grep -o 'CHAOS DONE seed=[0-9]* violations=[1-9][0-9]*' "$log" | grep -o 'seed=[0-9]*' | grep -o '[0-9]*'); do bad+=("$s"); done
	if (( rc != 0 && done_here < n )); then
		# The process died or hung in the schedule after the last finished one.
		last=$(grep -o 'chaos seed=[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
		[[ -n "$last" ]] && hung+=("$last")
		done_here=$(( done_here + 1 ))
	fi
	run=$(( run + done_here ))
	seed=$(( seed + done_here ))
	printf '%s: %d/%d schedules, %d failed, %d hung/crashed (%ds)\n' "$(date +%T)" "$run" "$N" "${#bad[@]}" "${#hung[@]}" $(( $(date +%s) - start ))
done

echo "schedules run:  $run (seeds $FIRST..$(( seed - 1 )), $STEPS faults each)"
echo "violations:     ${#bad[@]} schedules with a failed invariant"
grep -h 'seed [0-9]*: ' "$OUT"/chunk-*.log | sed 's/^ *chaos_test.go:[0-9]*: /  /' | sort | uniq | head -50
echo "hung/crashed:   ${#hung[@]}"
echo "seeds to replay: ${bad[*]:-none} ${hung[*]:-}"
grep -h 'CHAOS SUMMARY' "$OUT"/chunk-*.log | sed 's/.*CHAOS SUMMARY //' | awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[2] ~ /^[0-9]+$/) sum[kv[1]] += kv[2] } }
	END { printf "totals:         faults=%d sessions_learned=%d revisits=%d lin_ops=%d client_errors=%d sync_schedules=%d\n", sum["faults"], sum["sessions_learned"], sum["revisits"], sum["lin_ops"], sum["client_errors"], sum["sync_schedules"] }'
echo "logs:           $OUT"
(( ${#bad[@]} == 0 && ${#hung[@]} == 0 ))
