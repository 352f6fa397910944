#!/usr/bin/env bash
# Load: 8 sessions (pgbench) for LOAD_SECONDS (default 30) against the
# stand-in with 20 ms of latency, every 7th request answered 503 and some
# requests rate-limited (429, reset a second later).  Each transaction
# checks its rows against the stand-in's formula, or that its error is the
# right one; anything else aborts the pgbench client and fails the test.
set -uo pipefail
seconds=${LOAD_SECONDS:-30}
url=$SEGMENT_FDW_TEST_URL
psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }

psql_q <<SQL
CREATE SERVER load_braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$url', max_retries '5');
CREATE USER MAPPING FOR CURRENT_USER SERVER load_braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE load_sizes (segment_id text, time date, size bigint) SERVER load_braze;
CREATE TABLE load_outcomes (outcome text);
-- one transaction of the load: a random segment and range, checked
CREATE FUNCTION load_check(n int, first date, days int) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE
  seg text := CASE WHEN n % 25 = 0 THEN 'flaky-1-429'
                   WHEN n % 10 = 0 THEN 'http-404'
                   ELSE 'load-' || n END;
  bytesum int := (SELECT sum(ascii(c)) FROM regexp_split_to_table(seg, '') c);
  got_count bigint;
  got_sum numeric;
  msg text;
BEGIN
  SELECT count(*), sum(size) INTO got_count, got_sum FROM load_sizes
  WHERE segment_id = seg AND time >= first AND time < first + days;
  IF seg = 'http-404' THEN
    RAISE EXCEPTION 'a 404 returned rows';
  END IF;
  IF got_count <> days OR got_sum <> (SELECT sum((d::date - date '2020-01-01') * 10 + bytesum % 1000)
                                      FROM generate_series(first, first + days - 1, '1 day') g(d)) THEN
    RAISE EXCEPTION 'wrong rows for % from % (% days): % rows, sum %', seg, first, days, got_count, got_sum;
  END IF;
  INSERT INTO load_outcomes VALUES ('rows right');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
  IF msg ~ '^Braze API returned HTTP 404 \(Not Found\)( after [2-6] attempts)?$' AND seg = 'http-404' THEN
    INSERT INTO load_outcomes VALUES ('right error: 404');
  ELSIF msg = 'Braze API returned HTTP 503 (Service Unavailable) after 6 attempts' THEN
    INSERT INTO load_outcomes VALUES ('right error: 503 after 6 attempts');
  ELSIF msg = 'rate limited by Braze (HTTP 429) after 6 attempts' AND seg = 'flaky-1-429' THEN
    -- five attempts drew the injected 503 (every 7th request) before the
    -- segment's one 429: retries ran out on it (rarely)
    INSERT INTO load_outcomes VALUES ('right error: 429 after 6 attempts');
  ELSE
    RAISE;
  END IF;
END \$\$;
SQL
trap 'psql_q -c "DROP SERVER load_braze CASCADE; DROP TABLE load_outcomes; DROP FUNCTION load_check" >/dev/null 2>&1' EXIT

script=$(mktemp)
cat >"$script" <<'EOF2'
\set n random(1, 200)
\set offset random(0, 1000)
\set days random(1, 250)
SELECT load_check(:n, date '2022-01-01' + :offset, :days);
EOF2

curl -sS -X POST "$url/__control/reset" >/dev/null
curl -sS "$url/__control/set?latency_ms=20&fail_every=7&fail_status=503" >/dev/null
out=$("$PG_BIN/pgbench" -n -c 8 -j 2 -T "$seconds" -f "$script" 2>&1)
rc=$?
stats=$(curl -sS "$url/__control/stats")
curl -sS -X POST "$url/__control/reset" >/dev/null
rm -f "$script"

echo "$out" | grep -E '^(number of clients|duration|number of transactions actually processed|latency average|tps)' | sed 's/^/# /'
echo "# stand-in: $stats (every 7th answered 503)"
psql_q -c "SELECT '# ' || outcome || ': ' || count(*) FROM load_outcomes GROUP BY outcome ORDER BY 1"
processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$out")
checked=$(psql_q -c "SELECT count(*) FROM load_outcomes")
if ((rc == 0)) && ! grep -q 'aborted' <<<"$out" && [[ -n $processed ]] && ((processed > 0 && checked == processed)); then
  echo "ok $processed transactions under load with injected 503s and 429s, each with exactly the right rows or the right error"
else
  echo "not ok load test (pgbench exit $rc; $processed processed, $checked checked)"
  grep -iE 'error|abort' <<<"$out" | head -5 | sed 's/^/# /'
fi
