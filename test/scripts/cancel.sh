#!/usr/bin/env bash
# Cancel and termination of a session waiting on a slow Braze request:
# pg_cancel_backend gives SQLSTATE 57014 at once, pg_terminate_backend ends
# the session, and both free the backend (the stand-in sees the transfer
# closed).  Run by test/run with the cluster and the stand-in up; prints
# "ok ..." / "not ok ..." lines and the measured delays.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }

psql_q -c "CREATE SERVER cancel_braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$SEGMENT_FDW_TEST_URL');
  CREATE USER MAPPING FOR CURRENT_USER SERVER cancel_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE cancel_sizes (segment_id text, time date, size bigint) SERVER cancel_braze;"
trap 'psql_q -c "DROP SERVER cancel_braze CASCADE" >/dev/null 2>&1' EXIT

# run_and_stop FUNCTION: start a 30 s request, stop it with FUNCTION after
# 0.5 s; print the session's error and the milliseconds from stop to end
run_and_stop() {
  local fn=$1 out start end pid
  out=$(mktemp)
  psql -X -qAt -v VERBOSITY=terse -c "SET application_name = 'cancel_test';
    SELECT count(*) FROM cancel_sizes WHERE segment_id = 'slow-30000' AND time = '2024-01-01'" \
    >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    [[ $(psql_q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cancel_test' AND wait_event_type = 'Extension'") == 1 ]] && break
    sleep 0.1
  done
  start=$(date +%s%N)
  psql_q -c "SELECT $fn(pid) FROM pg_stat_activity WHERE application_name = 'cancel_test'" >/dev/null
  wait "$pid"
  end=$(date +%s%N)
  echo "$(tr '\n' ' ' <"$out")|$(((end - start) / 1000000))"
  rm -f "$out"
}

check() {
  local name=$1 result=$2 expect=$3 ms=${2##*|}
  if [[ ${result%%|*} == *"$expect"* ]] && ((ms < 2000)); then
    echo "ok $name (ended ${ms} ms after the signal)"
  else
    echo "not ok $name: got '${result%%|*}' after ${ms} ms, expected '$expect' within 2000 ms"
  fi
}

check "pg_cancel_backend stops a slow request" \
  "$(run_and_stop pg_cancel_backend)" "canceling statement due to user request"
check "pg_terminate_backend ends a session waiting on Braze" \
  "$(run_and_stop pg_terminate_backend)" "terminating connection due to administrator command"

if [[ $(psql_q -c "SELECT count(*) FROM cancel_sizes WHERE segment_id = 'abc' AND time = '2024-01-01'") == 1 ]]; then
  echo "ok the server works after cancel and termination"
else
  echo "not ok the server works after cancel and termination"
fi
