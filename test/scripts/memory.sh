#!/usr/bin/env bash
# Memory follows the body, not a tree of it: one response of 100,000 rows
# (about 3.9 MB, far beyond the API's 100 rows, only to make the cost per
# row visible) must raise the backend's peak memory (VmHWM) by less than
# three times the body: the body itself plus the rows kept from it.  A
# json-c tree of the whole body costs about 26 times the body.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_q -c "CREATE SERVER mem_braze FOREIGN DATA WRAPPER segment_fdw
    OPTIONS (url '$SEGMENT_FDW_TEST_URL');
  CREATE USER MAPPING FOR CURRENT_USER SERVER mem_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE mem_series (segment_id text, time date, size bigint, length integer)
    SERVER mem_braze;"
trap 'psql_q -c "DROP SERVER mem_braze CASCADE" >/dev/null 2>&1' EXIT

rows=100000
body=$(curl -sS -H "Authorization: Bearer regress-key" \
  "$SEGMENT_FDW_TEST_URL/segments/data_series?segment_id=rows-$rows&length=100" | wc -c)

# in one fresh session: warm up with a small response, then the large one
out=$(psql_q <<SQL
SELECT count(*) FROM mem_series WHERE segment_id = 'abc' AND length = 1;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)') AS before_kb \gset
SELECT count(*), sum(size) FROM mem_series WHERE segment_id = 'rows-$rows' AND length = 100;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)')::int - :before_kb;
SQL
)
result=$(sed -n 2p <<<"$out")
grew_kb=$(sed -n 3p <<<"$out")
echo "# body: $body bytes; result: $result; backend peak memory grew by $grew_kb kB"

# the stand-in's rows-N sizes are 0 .. N-1
if [[ $result == "$rows|$(((rows - 1) * rows / 2))" ]]; then
  echo "ok a $rows-row response gives exactly its rows"
else
  echo "not ok a $rows-row response gave '$result'"
fi
if [[ -n $grew_kb ]] && ((grew_kb * 1024 < 3 * body)); then
  echo "ok peak memory grew by $((grew_kb * 1024 * 100 / body))% of the body (limit 300%)"
else
  echo "not ok peak memory grew by '$grew_kb' kB for a body of $body bytes (limit 3 times the body)"
fi
