#!/usr/bin/env bash
# The API key never reaches the server log or the client, at any level:
# queries that succeed, fail (401 with the key echoed, 503, timeouts) and
# are cancelled run at log_min_messages = debug5 and client_min_messages =
# debug5 with segment_fdw.log_requests on; then the server log and the
# client's output are searched for the key.
set -uo pipefail

key="regress-key-Zx81Q7secretmarker"
marker="Zx81Q7secretmarker"
psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }

# set up at the default log level, so the statement that holds the key is
# not what the search finds
psql_q -c "CREATE SERVER secret_braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$SEGMENT_FDW_TEST_URL', max_retries '1', timeout_ms '300');
  CREATE USER MAPPING FOR CURRENT_USER SERVER secret_braze OPTIONS (api_key '$key');
  CREATE FOREIGN TABLE secret_sizes (segment_id text, time date, size bigint) SERVER secret_braze;"
trap 'psql_q -c "DROP SERVER secret_braze CASCADE" >/dev/null 2>&1' EXIT

log_start=$(stat -c %s "$SEGMENT_FDW_TEST_SERVER_LOG")
out=$(psql -X -v VERBOSITY=verbose 2>&1 <<'SQL'
SET log_min_messages = debug5;
SET client_min_messages = debug5;
SET log_min_error_statement = debug5;
SET log_error_verbosity = verbose;
SET segment_fdw.log_requests = on;
SELECT count(*) FROM secret_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-06-01';
SELECT count(*) FROM secret_sizes WHERE segment_id = 'echo-key' AND time = '2024-01-01';
SELECT count(*) FROM secret_sizes WHERE segment_id = 'http-503' AND time = '2024-01-01';
SELECT count(*) FROM secret_sizes WHERE segment_id = 'slow-2000' AND time = '2024-01-01';
SET statement_timeout = '100ms';
SELECT count(*) FROM secret_sizes WHERE segment_id = 'slow-3000' AND time = '2024-01-01';
RESET statement_timeout;
EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM secret_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
SQL
)
sleep 0.3
log=$(tail -c +"$((log_start + 1))" "$SEGMENT_FDW_TEST_SERVER_LOG")

lines=$(grep -c . <<<"$log")
requests=$(grep -c 'segment_fdw: GET http' <<<"$log")
if ((lines > 100 && requests >= 6)); then
  echo "ok the debug5 run logged $lines lines, $requests of them requests"
else
  echo "not ok the debug5 run logged $lines lines, $requests requests (expected > 100 and >= 6)"
fi
if grep -q "$marker" <<<"$log"; then
  echo "not ok the key is in the server log: $(grep -m1 "$marker" <<<"$log")"
else
  echo "ok the key is not in the server log at debug5"
fi
if grep -q "$marker" <<<"$out"; then
  echo "not ok the key reached the client: $(grep -m1 "$marker" <<<"$out")"
else
  echo "ok the key did not reach the client at debug5"
fi
if grep -q 'Invalid API key: \*\*\*\*\*\*\*\*' <<<"$out$log"; then
  echo "ok the echoed key shows masked"
else
  echo "not ok the echoed key does not show masked"
fi
