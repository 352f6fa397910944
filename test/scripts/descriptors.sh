#!/usr/bin/env bash
# Descriptors and idle connections: the sockets of 20 sessions against the
# idle cap and idle time, on the test cluster; then a cluster of its own
# with max_files_per_process = 64, where a 64-wide fan-out shares the
# backend's descriptors with its other statements (test/descriptors.py).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../private-cluster.sh"
private_cluster "max_files_per_process = 64" || exit 0
python3 "$here/../descriptors.py" --scarce-host "$PRIVATE_HOST" --scarce-port "$PRIVATE_PORT"
