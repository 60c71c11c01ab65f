#!/usr/bin/env bash
# Consumer-group benchmark: rebalance times of a 3-member group (join, one
# member leaving) on Eddy and on Apache Kafka 3.9 in one run with the same
# confluent-kafka clients, then the coordinator's memory per group, member
# and committed offset as Eddy's allocator counts it.
#   tests/bench/rebalance.sh [ROUNDS]     (default 5)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${EDDY_PEERS:-$HOME/.cache/eddy-peers}"

cd "$REPO"
make -s build/eddy build/bench/group_mem_bench
"$REPO/tests/peers/install.sh" >/dev/null
echo "== rebalance times (median of rounds)"
timeout 1800 "$CACHE/venv/bin/python" "$HERE/rebalance.py" "$REPO/build/eddy" \
	"$REPO/tests/peers" "${1:-5}"
echo
echo "== coordinator memory (Eddy's allocator, 1000 groups / members)"
build/bench/group_mem_bench 1000
