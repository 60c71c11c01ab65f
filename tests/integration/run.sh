#!/usr/bin/env bash
# Installs the peers (tests/peers/install.sh), then runs the integration
# tests with the peers venv's pytest under a global timeout. Extra arguments
# go to pytest (a test file first runs only that file). EDDY_TEST_TARGET=kafka runs them against real Apache Kafka.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${EDDY_PEERS:-$HOME/.cache/eddy-peers}"

"$REPO/tests/peers/install.sh"
cd "$REPO"
# A test file or folder as the first argument runs just that.
if [ $# -eq 0 ] || [ ! -e "$1" ]; then set -- tests/integration "$@"; fi
# SIGTERM at the limit lets pytest tear its brokers down; SIGKILL 60 s later.
exec timeout --kill-after=60 "${EDDY_IT_TIMEOUT:-1500}" \
	"$CACHE/venv/bin/python" -m pytest "$@"
