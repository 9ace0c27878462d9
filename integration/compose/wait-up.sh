#!/usr/bin/env bash
# Waits until every container of the compose cluster (docker-compose.yml)
# runs and every node answers /ready; exits 1, with the log of the first
# container that is not running, when one is not (podman-compose up -d
# exits 0 even when a container could not start).
#
#   bash integration/compose/wait-up.sh            # podman
#   ENGINE=docker bash integration/compose/wait-up.sh
#   WAIT=120 ...                                   # seconds to wait (default 90)
set -uo pipefail
engine=${ENGINE:-podman}
wait=${WAIT:-90}
containers=(haraft-node1 haraft-node2 haraft-node3 haraft-backend-a haraft-backend-b haraft-ec2emu)
deadline=$(( $(date +%s) + wait ))
while :; do
  bad=""
  for c in "${containers[@]}"; do
    st=$("$engine" inspect -f '{{.State.Status}}' "$c" 2>/dev/null || echo missing)
    case "$st" in
    running) ;;
    missing) bad=${bad:-"$c: $st"} ;; # not created (yet)
    created | configured)
      # compose up returned, and the engine could not start it.
      echo "wait-up: $c was created but never started: the compose up output says why" >&2
      exit 1
      ;;
    *)
      echo "wait-up: $c is $st, not running; its log:" >&2
      "$engine" logs --tail 30 "$c" >&2 2>&1 || true
      exit 1
      ;;
    esac
  done
  if [ -z "$bad" ]; then
    for port in 19101 19102 19103; do
      curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/ready" || bad=${bad:-"node on 127.0.0.1:$port: not ready"}
    done
  fi
  if [ -z "$bad" ]; then
    echo "wait-up: ${#containers[@]} containers running, 3 nodes ready"
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "wait-up: not up after ${wait}s: $bad" >&2
    c=${bad%%:*}
    "$engine" logs --tail 30 "$c" >&2 2>&1 || true
    exit 1
  fi
  sleep 1
done
