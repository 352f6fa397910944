# test/private-cluster.sh: sourced by the scripted tests that need a
# cluster of their own (settings the test cluster cannot take, such as
# max_files_per_process or shared_preload_libraries).
#
#   private_cluster SETTING...   starts one in a new folder; sets
#                                PRIVATE_HOST and PRIVATE_PORT
# It is stopped, and its log checked for a backend killed by a signal, when
# the script exits.
# needs: PG_BIN (test/common.sh exports it)

PRIVATE_DIR=
PRIVATE_HOST=
PRIVATE_PORT=

private_as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

private_stop() {
  [[ -n $PRIVATE_DIR ]] || return 0
  private_as_pg "$PG_BIN/pg_ctl" -D "$PRIVATE_DIR/data" -m immediate -w stop >/dev/null 2>&1
  if [[ -f $PRIVATE_DIR/postgres.log ]] &&
    ! "$(dirname "${BASH_SOURCE[0]}")/crashes" "$PRIVATE_DIR/postgres.log" >/dev/null; then
    echo "not ok a backend of the private cluster was killed by a signal"
  fi
  rm -rf "$PRIVATE_DIR"
}

private_cluster() {
  PRIVATE_DIR=$(mktemp -d /tmp/segment_fdw_private.XXXXXX)
  chmod 755 "$PRIVATE_DIR"
  [[ $(id -u) == 0 ]] && chown postgres: "$PRIVATE_DIR"
  trap private_stop EXIT
  PRIVATE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PRIVATE_HOST=$PRIVATE_DIR
  private_as_pg "$PG_BIN/initdb" -D "$PRIVATE_DIR/data" -A trust -U postgres --no-sync \
    >"$PRIVATE_DIR/initdb.log" 2>&1 || { echo "not ok initdb of a private cluster failed"; return 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$PRIVATE_DIR'"
    echo "port = $PRIVATE_PORT"
    echo "fsync = off"
    for setting in "$@"; do echo "$setting"; done
  } >>"$PRIVATE_DIR/data/postgresql.conf"
  private_as_pg "$PG_BIN/pg_ctl" -D "$PRIVATE_DIR/data" -l "$PRIVATE_DIR/postgres.log" -w start \
    >/dev/null || { echo "not ok a private cluster did not start"; cat "$PRIVATE_DIR/postgres.log"; return 1; }
}
