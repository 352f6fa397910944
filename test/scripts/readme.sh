#!/usr/bin/env bash
# The README runs as written (test/readme.py): every SQL block, in order, in
# a fresh database of a cluster made with the README's postgresql.conf lines
# (pg_cron and segment_fdw preloaded), the outputs it shows compared, and
# the pg_cron job it schedules run once.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../private-cluster.sh"
mapfile -t settings < <(python3 "$here/../readme.py" --settings)
private_cluster "${settings[@]}" || exit 0
python3 "$here/../readme.py" --host "$PRIVATE_HOST" --port "$PRIVATE_PORT"
