#!/usr/bin/env bash
# What the backends share, on a cluster of its own that preloads
# segment_fdw: the limit on requests in flight across sessions, a backend
# killed mid-scan, the rate-limit reserve, the cache of settled days,
# segment_fdw_stats, the update from 1.0 (test/shared.py).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../private-cluster.sh"
private_cluster "shared_preload_libraries = 'segment_fdw'" "max_connections = 40" || exit 0
python3 "$here/../shared.py" --host "$PRIVATE_HOST" --port "$PRIVATE_PORT"
