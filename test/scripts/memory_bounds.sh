#!/usr/bin/env bash
# The most memory one query can take through a server whose owner is not a
# superuser: max_concurrency 16 and max_response_bytes 8 MiB at most (the
# caps), against the stand-in serving the dearest bodies it can.  The worst
# case is computed below from the limits of the code; the backend's peak
# resident memory (VmHWM) must grow by less.  Two bodies that the walk
# refuses (one failing at its last row, one with an 8 MB member) must cost
# no json-c tree of the body either.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
standin_py=$(dirname "$0")/../standin.py

B=8388608                # max_response_bytes, the cap for such a server
C=16                     # max_concurrency, the cap
psql_q -c "CREATE ROLE regress_mem_owner;
  CREATE SERVER memb_braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$SEGMENT_FDW_TEST_URL',
    max_retries '0', max_concurrency '$C', max_response_bytes '$B');
  ALTER SERVER memb_braze OWNER TO regress_mem_owner;
  CREATE USER MAPPING FOR CURRENT_USER SERVER memb_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE memb_series (segment_id text, time date, size bigint, length integer)
    SERVER memb_braze;"
trap 'psql_q -c "DROP SERVER memb_braze CASCADE; DROP ROLE regress_mem_owner" >/dev/null 2>&1' EXIT

# 8 bodies of as many rows as fit in 8 MiB, 8 of rows with 60 kB of empty
# objects each (the dearest value json-c is given whole); distinct ids, so
# 16 requests.  The stand-in builds them first: not part of the measure.
ids=()
for i in $(seq 0 7); do ids+=("max-rows-$((B - i))" "heavy-rows-$((B - i))"); done
for id in "${ids[@]}"; do
  curl -sS -o /dev/null -H "Authorization: Bearer regress-key" \
    "$SEGMENT_FDW_TEST_URL/segments/data_series?segment_id=$id&length=100"
done
read -r rows sum maxrows bad_rows <<<"$(python3 - "$standin_py" "${ids[@]}" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("standin", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
rows = total = most = 0
for seg in sys.argv[2:]:
    kind, n = seg.rsplit("-", 1)
    k = m.boundary_body_cached(kind, int(n)).count(b'"time"')
    rows, total, most = rows + k, total + k * (k - 1) // 2, max(most, k)
print(rows, total, most, m.compact_rows(8388500)[1].count(b"{"))
PY
)"

# The worst case, from the code's limits:
#  bodies: C transfers in flight, each buffer at most B + 1 bytes, one of
#    them growing (its old half is live with the new buffer);
#  rows: the walk's array of 16-byte rows, doubling from 128, for the most
#    rows a body of B bytes holds (31 bytes a row at least); its last growth
#    has the old half live too; then the rows kept for rescans, 16 bytes
#    each, at most 409,600 (MAX_CACHED_ROWS; the length column here keeps
#    every row of a response, so the cap is reached);
#  json-c: one value of at most 64 kB at 270 bytes per byte (empty objects,
#    measured 264), or a tree of a body of at most 64 kB;
#  and 8 MiB for the rest (contexts, curl's buffers, the executor).
# Those are live allocations; the bound allows 25% more for what malloc
# keeps of freed memory (bodies and json-c's many small objects).
worst=$(python3 - "$B" "$C" "$rows" <<'PY'
import sys
B, C, rows = map(int, sys.argv[1:])
kept = min(rows, 409600)
bodies = C * (B + 1) + (B + 1) // 2
maxrows = B // 31
cap = 128
while cap < maxrows:
    cap *= 2
walk = cap * 16 + cap * 16 // 2
jsonc = 65536 * 270
print(bodies + walk + kept * 16 + jsonc + 8 * 1024 * 1024)
PY
)
bound=$((worst * 5 / 4))
echo "# worst case for this query: $worst bytes ($((worst / 1048576)) MiB): $C bodies of $B bytes, $rows rows, at most 409,600 kept; bound with malloc's slack: $((bound / 1048576)) MiB"

idlist=$(printf "'%s'," "${ids[@]}")
out=$(psql_q <<SQL
SET segment_fdw.allowed_urls = '$SEGMENT_FDW_TEST_URL';
SELECT count(*) FROM memb_series WHERE segment_id = 'abc' AND length = 1;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)') AS before_kb \gset
SELECT count(*), sum(size) FROM memb_series WHERE segment_id IN (${idlist%,}) AND length = 100;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)')::int - :before_kb;
SQL
)
result=$(sed -n 2p <<<"$out")
grew_kb=$(sed -n 3p <<<"$out")
echo "# 16 bodies: result $result; backend peak memory grew by $grew_kb kB ($((grew_kb / 1024)) MiB)"
if [[ $result == "$rows|$sum" ]]; then
  echo "ok 16 maximal bodies give exactly their $rows rows"
else
  echo "not ok 16 maximal bodies gave '$result', expected '$rows|$sum'"
fi
if [[ -n $grew_kb ]] && ((grew_kb * 1024 < bound)); then
  echo "ok peak memory grew by $((grew_kb / 1024)) MiB: worst case computed $((worst / 1048576)) MiB, bound $((bound / 1048576)) MiB"
else
  echo "not ok peak memory grew by '$grew_kb' kB, over the bound of $((bound / 1048576)) MiB (worst case computed $((worst / 1048576)) MiB)"
fi

# refused bodies: each in a fresh session; the bound is one body and its
# rows, far below a tree of it (29 bytes a byte: 240 MB)
one=$(python3 -c "print(($B + 1 + ($B // 31) * 24 + 65536 * 270 + 8 * 1024 * 1024) * 5 // 4)")
check_refused() {
  local id=$1 expect=$2 out err grew errfile
  errfile=$(mktemp)
  curl -sS -o /dev/null -H "Authorization: Bearer regress-key" \
    "$SEGMENT_FDW_TEST_URL/segments/data_series?segment_id=$id&length=100"
  out=$(psql -X -qAt -v VERBOSITY=terse 2>"$errfile" <<SQL
SET segment_fdw.allowed_urls = '$SEGMENT_FDW_TEST_URL';
SELECT count(*) FROM memb_series WHERE segment_id = 'abc' AND length = 1;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)') AS before_kb \gset
SELECT count(*) FROM memb_series WHERE segment_id = '$id' AND length = 100;
SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s+(\d+)')::int - :before_kb;
SQL
)
  err=$(cat "$errfile")
  rm -f "$errfile"
  grew=$(sed -n 2p <<<"$out")
  if [[ $err == "$expect" ]] && [[ -n $grew ]] && ((grew * 1024 < one)); then
    echo "ok $id fails with its error; peak memory grew by $((grew / 1024)) MiB (bound $((one / 1048576)) MiB)"
  else
    echo "not ok $id gave '$err', peak memory grew by '$grew' kB (bound $((one / 1048576)) MiB); expected '$expect'"
  fi
}
check_refused bad-tail-8388500 \
  "ERROR:  invalid response from Braze: \"time\" of element $((bad_rows + 1)) is \"2024-13-45\", not a date YYYY-MM-DD"
check_refused big-member-8388000 \
  "ERROR:  invalid response from Braze: a member is larger than 65536 bytes"
