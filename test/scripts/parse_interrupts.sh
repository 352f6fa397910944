#!/usr/bin/env bash
# Cancel and statement_timeout act within a parse, not only while waiting
# on Braze: a body of 100 MB (a superuser's server, max_response_bytes
# raised) takes seconds to walk, and both give 57014 well within a second;
# a 7 MB body the walk refuses fails promptly, never parsed as a tree.
# Prints the measured milliseconds.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

psql_q -c "CREATE SERVER parse_braze FOREIGN DATA WRAPPER segment_fdw
    OPTIONS (url '$SEGMENT_FDW_TEST_URL', max_retries '0', max_response_bytes '200000000');
  CREATE USER MAPPING FOR CURRENT_USER SERVER parse_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE parse_series (segment_id text, time date, size bigint, length integer)
    SERVER parse_braze;"
trap 'psql_q -c "DROP SERVER parse_braze CASCADE" >/dev/null 2>&1' EXIT

# warm_body BYTES: have the stand-in build bad-tail-BYTES once (building it
# is not part of what is measured), and print the good rows it holds
warm_body() {
  curl -sS -o /dev/null -H "Authorization: Bearer regress-key" \
    "$SEGMENT_FDW_TEST_URL/segments/data_series?segment_id=bad-tail-$1&length=100"
  python3 -c "
import importlib.util, sys
spec = importlib.util.spec_from_file_location('standin', sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
print(m.compact_rows(int(sys.argv[2]))[1].count(b'{'))" "$(dirname "$0")/../standin.py" "$1"
}

big=bad-tail-100000000
rows=$(warm_body 100000000)

query="SELECT count(*) FROM parse_series WHERE segment_id = '$big' AND length = 100"

# uninterrupted: the whole walk, to its error at the last row; the second
# run is measured (the first pays for fresh memory pages)
for _ in 1 2; do
  t0=$(now_ms)
  out=$(psql -X -qAt -v VERBOSITY=terse -c "$query" 2>&1)
  t1=$(now_ms)
done
full=$((t1 - t0))
expect="ERROR:  invalid response from Braze: \"time\" of element $((rows + 1)) is \"2024-13-45\", not a date YYYY-MM-DD"
if [[ $out == "$expect" ]]; then
  echo "ok a 100 MB body is walked to its last row ($rows rows) and its error, in $full ms"
else
  echo "not ok the 100 MB body gave '$out' after $full ms, expected '$expect'"
fi

# statement_timeout expiring in the middle of the walk
timeout=$((full / 3))
t0=$(now_ms)
out=$(psql -X -qAt -v VERBOSITY=terse -c "SET statement_timeout = $timeout" -c "$query" 2>&1)
t1=$(now_ms)
ms=$((t1 - t0))
late=$((ms - timeout))
if [[ $out == "ERROR:  canceling statement due to statement timeout" ]] && ((late < 1000)); then
  echo "ok statement_timeout = $timeout ms stops the walk: 57014 after $ms ms ($late ms late)"
else
  echo "not ok statement_timeout = $timeout ms gave '$out' after $ms ms ($late ms late, limit 1000)"
fi

# pg_cancel_backend in the middle of the walk
f=$(mktemp)
t0=$(now_ms)
psql -X -qAt -v VERBOSITY=terse -c "SET application_name = 'parse_interrupts'" -c "$query" >"$f" 2>&1 &
pid=$!
sleep "$(awk "BEGIN { print $full / 3000 }")"
signal=$(now_ms)
psql_q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'parse_interrupts'" >/dev/null
wait "$pid"
t1=$(now_ms)
ms=$((t1 - signal))
out=$(cat "$f")
rm -f "$f"
if [[ $out == "ERROR:  canceling statement due to user request" ]] && ((ms < 1000)); then
  echo "ok pg_cancel_backend $((signal - t0)) ms into the query stops the walk: 57014 $ms ms after the signal"
else
  echo "not ok pg_cancel_backend gave '$out' $ms ms after the signal (limit 1000)"
fi

# a 7 MB body the walk refuses, under the default max_response_bytes and a
# statement_timeout of 500 ms: its own error (or, on a slow machine, the
# timeout) promptly; a tree of it took a second, and swallowed the timeout
psql_q -c "ALTER SERVER parse_braze OPTIONS (DROP max_response_bytes)"
mid=bad-tail-7000000
rows=$(warm_body 7000000)
t0=$(now_ms)
out=$(psql -X -qAt -v VERBOSITY=terse -c "SET statement_timeout = 500" \
  -c "SELECT count(*) FROM parse_series WHERE segment_id = '$mid' AND length = 100" 2>&1)
t1=$(now_ms)
ms=$((t1 - t0))
expect="ERROR:  invalid response from Braze: \"time\" of element $((rows + 1)) is \"2024-13-45\", not a date YYYY-MM-DD"
if [[ $out == "$expect" || $out == "ERROR:  canceling statement due to statement timeout" ]] && ((ms < 800)); then
  echo "ok a 7 MB body refused at its last row, under statement_timeout = 500 ms, ends in $ms ms: $out"
else
  echo "not ok the 7 MB body gave '$out' after $ms ms, expected '$expect' or 57014 within 800 ms"
fi
