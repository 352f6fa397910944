#!/usr/bin/env bash
# Cancel and statement_timeout act within a parse, not only while waiting
# on Braze: a body of 100 MB (a superuser's server, max_response_bytes
# raised) takes seconds to walk, and both give 57014 well within a second;
# a 7 MB body the walk refuses, under the default max_response_bytes and a
# statement_timeout of 500 ms: its own error (or, on a slow machine, the
# timeout) promptly; a tree of it took a second, and swallowed the timeout
psql_q -c "ALTER SERVER parse_braze OPTIONS (DROP max_response_bytes)"
mid=bad-tail-7000000
curl -sS -o /dev/null -H "Authorization: Bearer regress-key" \
  "$SEGMENT_FDW_TEST_URL/segments/data_series?segment_id=$mid&length=100"
rows=$(python3 -c "
import importlib.util, sys
spec = importlib.util.spec_from_file_location('standin', sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
print(m.compact_rows(7000000)[1].count(b'{'))" "$(dirname "$0")/../standin.py")
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
