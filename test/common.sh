# test/common.sh: shared by test/run, test/demo and the benchmarks.
#
# Installs the Debian packages the project needs (when run as root and one
# is missing), builds and installs the extension, and starts a throwaway
# PostgreSQL cluster and the stand-in Braze API on loopback.  Everything is
# torn down by the EXIT trap that stop_all installs.

PG_MAJOR=${PG_MAJOR:-15}
export PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
export PG_CONFIG=$PG_BIN/pg_config
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The proxies of the environment must not see loopback test traffic.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-cron
  libcurl4-openssl-dev libjson-c-dev pkg-config make gcc curl python3 openssl
  clang libclang-rt-14-dev"

ensure_packages() {
  local missing=()
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) != 0 ]]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_and_install() {
  make -C "$TOP" -s PG_CONFIG="$PG_CONFIG" >/dev/null
  make -C "$TOP" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

WORK=$(mktemp -d /tmp/segment_fdw_test.XXXXXX)
chmod 755 "$WORK"
STANDIN_PID=
PG_STARTED=

stop_all() {
  if [[ -n $PG_STARTED ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  for pid in $STANDIN_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap stop_all EXIT

# Run a command as the cluster's owner: postgres refuses to run as root.
as_pg() {
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_standin NAME [standin.py options]: start a stand-in API; its port is
# in $WORK/NAME.port once it listens
run_standin() {
  local name=$1
  shift
  python3 "$TOP/test/standin.py" --port-file "$WORK/$name.port" "$@" \
    >"$WORK/$name.log" 2>&1 &
  STANDIN_PID="$STANDIN_PID $!"
  for _ in $(seq 100); do
    [[ -s $WORK/$name.port ]] && return 0
    sleep 0.05
  done
  echo "stand-in API $name did not start" >&2
  cat "$WORK/$name.log" >&2
  exit 1
}

# start_standin [extra standin.py options]: the plain-HTTP stand-in, and a
# port that never answers a connection; exports SEGMENT_FDW_TEST_URL and
# SEGMENT_FDW_TEST_BLACKHOLE_URL
start_standin() {
  run_standin standin --blackhole-port-file "$WORK/blackhole.port" "$@"
  export SEGMENT_FDW_TEST_URL="http://127.0.0.1:$(cat "$WORK/standin.port")"
  export SEGMENT_FDW_TEST_BLACKHOLE_URL="http://127.0.0.1:$(cat "$WORK/blackhole.port")"
}

# start_tls_standin: a CA, a certificate for 127.0.0.1 signed by it, another
# CA that signed nothing, and an HTTPS stand-in; exports
# SEGMENT_FDW_TEST_TLS_URL, SEGMENT_FDW_TEST_CA and SEGMENT_FDW_TEST_OTHER_CA
start_tls_standin() {
  local d=$WORK/tls
  mkdir -p "$d"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=segment_fdw-test-ca \
      -keyout "$d/ca.key" -out "$d/ca.crt"
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
      -keyout "$d/server.key" -out "$d/server.csr"
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
      -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/server.crt"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=segment_fdw-other-ca \
      -keyout "$d/other.key" -out "$d/other.crt"
  } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; exit 1; }
  chmod 755 "$d"
  chmod 644 "$d"/*.crt
  run_standin tls-standin --tls-cert "$d/server.crt" --tls-key "$d/server.key"
  export SEGMENT_FDW_TEST_TLS_URL="https://127.0.0.1:$(cat "$WORK/tls-standin.port")"
  export SEGMENT_FDW_TEST_CA="$d/ca.crt" SEGMENT_FDW_TEST_OTHER_CA="$d/other.crt"
}

# start_cluster [postgres -c settings...]: exports PGHOST, PGPORT, PGUSER
start_cluster() {
  local port
  port=$(free_port)
  [[ $(id -u) == 0 ]] && chown postgres: "$WORK"
  as_pg "$PG_BIN/initdb" -D "$WORK/data" -A trust -U postgres --no-sync >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; exit 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$WORK'"
    echo "port = $port"
    echo "fsync = off"
    echo "max_connections = 40"
    for setting in "$@"; do echo "$setting"; done
  } >>"$WORK/data/postgresql.conf"
  # The postmaster's environment names a proxy that never answers: every
  # suite then shows that segment_fdw uses no proxy a server did not set.
  local proxy=${SEGMENT_FDW_TEST_BLACKHOLE_URL:-}
  as_pg env ${proxy:+http_proxy=$proxy https_proxy=$proxy HTTPS_PROXY=$proxy all_proxy=$proxy ALL_PROXY=$proxy} \
    "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w start >/dev/null ||
    { cat "$WORK/postgres.log" >&2; exit 1; }
  PG_STARTED=1
  export PGHOST=$WORK PGPORT=$port PGUSER=postgres PGDATABASE=postgres
  export SEGMENT_FDW_TEST_SERVER_LOG=$WORK/postgres.log
}
