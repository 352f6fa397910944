#!/usr/bin/env bash
# Descriptors and idle connections: the sockets of 20 sessions against the
# idle cap and idle time, on the test cluster; then a cluster of its own
# with max_files_per_process = 64, where a 64-wide fan-out shares the
# backend's descriptors with its other statements (test/descriptors.py).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/segment_fdw_fds.XXXXXX)
chmod 755 "$dir"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$dir"
stop() {
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  if [[ -f $dir/postgres.log ]] && ! "$here/../crashes" "$dir/postgres.log" >/dev/null; then
    echo "not ok a backend of the max_files_per_process = 64 cluster was killed by a signal"
  fi
  rm -rf "$dir"
}
trap stop EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
  { echo "not ok initdb of the scarce cluster failed"; cat "$dir/initdb.log"; exit 0; }
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
max_files_per_process = 64
CONF
as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start >/dev/null ||
  { echo "not ok the scarce cluster did not start"; cat "$dir/postgres.log"; exit 0; }
python3 "$here/../descriptors.py" --scarce-host "$dir" --scarce-port "$port"
