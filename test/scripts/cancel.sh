#!/usr/bin/env bash
# Cancel and termination of a session waiting on Braze, whatever the
# transfer is doing: waiting for headers, in a stalled body, or sleeping in
# a retry back-off.  pg_cancel_backend gives SQLSTATE 57014 at once,
# pg_terminate_backend ends the session; meanwhile pg_stat_activity shows
# the wait event.  Prints "ok ..." / "not ok ..." lines with the delays.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }

psql_q -c "CREATE SERVER cancel_braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$SEGMENT_FDW_TEST_URL', max_retries '10');
  CREATE USER MAPPING FOR CURRENT_USER SERVER cancel_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE cancel_sizes (segment_id text, time date, size bigint) SERVER cancel_braze;"
trap 'psql_q -c "DROP SERVER cancel_braze CASCADE" >/dev/null 2>&1' EXIT

# check NAME FUNCTION SEGMENT EXPECTED: start a query on SEGMENT, wait until
# it shows the wait event for Braze, stop it with FUNCTION, and check the
# session's error and that it ended within 1 s of the signal
check() {
  local name=$1 fn=$2 seg=$3 expect=$4 out start end pid waited=no ms
  out=$(mktemp)
  psql -X -qAt -v VERBOSITY=terse -c "SET application_name = 'cancel_test';
    SELECT count(*) FROM cancel_sizes WHERE segment_id = '$seg' AND time = '2024-01-01'" \
    >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    if [[ $(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cancel_test' AND wait_event_type = 'Extension'") == 1 ]]; then
      waited=yes
      break
    fi
    sleep 0.1
  done
  sleep 0.3
  start=$(date +%s%N)
  psql_q -c "SELECT $fn(pid) FROM pg_stat_activity WHERE application_name = 'cancel_test'" >/dev/null
  wait "$pid"
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  if [[ $(cat "$out") == *"$expect"* && $waited == yes ]] && ((ms < 1000)); then
    echo "ok $name (ended $ms ms after the signal)"
  else
    echo "not ok $name: got '$(tr '\n' ' ' <"$out")' after $ms ms (wait event seen: $waited), expected '$expect' within 1000 ms"
  fi
  rm -f "$out"
}

check "pg_cancel_backend stops a request waiting for its headers" \
  pg_cancel_backend slow-30000 "canceling statement due to user request"
check "pg_cancel_backend stops a request whose body stalled" \
  pg_cancel_backend stall-body "canceling statement due to user request"
check "pg_cancel_backend stops a retry back-off" \
  pg_cancel_backend flaky-99-503 "canceling statement due to user request"
check "pg_terminate_backend ends a session waiting on Braze" \
  pg_terminate_backend slow-30000 "terminating connection due to administrator command"

if [[ $(psql_q -c "SELECT count(*) FROM cancel_sizes WHERE segment_id = 'abc' AND time = '2024-01-01'") == 1 ]]; then
  echo "ok the server works after cancel and termination"
else
  echo "not ok the server works after cancel and termination"
fi
