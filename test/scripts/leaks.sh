#!/usr/bin/env bash
# No leaks: one session runs about 3,300 queries that succeed or fail at
# every point (HTTP error, malformed body, broken connection, timeout,
# conversion error, statement_timeout; list and details bodies too), at top level and inside exception
# blocks (subtransactions); its resident memory, its memory contexts and its
# open file descriptors must stay flat after a warm-up.
set -uo pipefail

psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_q -c "CREATE SERVER leak_braze FOREIGN DATA WRAPPER segment_fdw
    OPTIONS (url '$SEGMENT_FDW_TEST_URL', max_retries '0', timeout_ms '20');
  CREATE USER MAPPING FOR CURRENT_USER SERVER leak_braze OPTIONS (api_key 'regress-key');
  CREATE FOREIGN TABLE leak_sizes (segment_id text, time date, size bigint) SERVER leak_braze;
  CREATE FOREIGN TABLE leak_short (segment_id varchar(2), time date, size bigint) SERVER leak_braze;
  CREATE FOREIGN TABLE leak_list (id text, name text, tags text[]) SERVER leak_braze OPTIONS (endpoint 'list');
  CREATE FOREIGN TABLE leak_details (segment_id text, name text, created_at timestamptz, teams text[])
    SERVER leak_braze OPTIONS (endpoint 'details');"
trap 'psql_q -c "DROP SERVER leak_braze CASCADE" >/dev/null 2>&1' EXIT

# one round of the mix, inside a loop of exception blocks
round() {
  cat <<SQL
DO \$\$
DECLARE
  q text;
  n bigint;
BEGIN
  FOR i IN 1..$1 LOOP
    FOREACH q IN ARRAY ARRAY[
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id IN ('abc', 'xyz') AND time >= '2024-01-01' AND time < '2024-05-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id IN ('abc', 'http-503', 'xyz') AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id = 'truncated' AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id = 'bad-time' AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id = 'reset' AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_sizes WHERE segment_id IN ('abc', 'slow-1000') AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_short WHERE segment_id = 'abc' AND time = '2024-01-01'\$q\$,
      \$q\$SELECT count(*) FROM leak_list WHERE name LIKE 'Trial%'\$q\$,
      \$q\$SELECT count(*) FROM leak_details WHERE segment_id IN ('cat-0001', 'details-tag-not-string')\$q\$,
      \$q\$SELECT count(*) FROM leak_details WHERE segment_id IN ('cat-0002', 'truncated')\$q\$,
      \$q\$SELECT count(*) FROM leak_details WHERE segment_id = 'details-bad-created'\$q\$,
      \$q\$SELECT count(*) FROM (SELECT * FROM leak_sizes WHERE segment_id = 'abc' AND time >= '2023-01-01' LIMIT 1) s\$q\$
    ] LOOP
      BEGIN
        EXECUTE q INTO n;
      EXCEPTION WHEN OTHERS THEN
        n := -1;
      END;
    END LOOP;
  END LOOP;
END \$\$;
SQL
  for _ in $(seq "$2"); do
    echo "SELECT count(*) FROM leak_sizes WHERE segment_id = 'http-404' AND time = '2024-01-01';"
    echo "SELECT count(*) FROM leak_sizes WHERE segment_id = 'not-json' AND time = '2024-01-01';"
    echo "SET statement_timeout = '20ms';"
    echo "SELECT count(*) FROM leak_sizes WHERE segment_id = 'slow-1000' AND time = '2024-01-01';"
    echo "RESET statement_timeout;"
  done
}

measure() {
  cat <<'SQL'
SELECT format('rss_kb=%s contexts_bytes=%s fds=%s',
  substring(pg_read_file('/proc/self/status') from 'VmRSS:\s+(\d+)'),
  (SELECT sum(total_bytes) FROM pg_backend_memory_contexts),
  (SELECT count(*) FROM pg_ls_dir('/proc/self/fd')));
SQL
}

out=$({
  echo "\\set ON_ERROR_STOP 0"
  round 30 30
  measure
  round 250 100
  measure
} | psql -X -qAt 2>/dev/null | grep '^rss_kb=')

first=$(head -1 <<<"$out")
last=$(tail -1 <<<"$out")
echo "# after warm-up: $first"
echo "# after ~3,300 more queries: $last"
val() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$2"; }
rss_growth=$(($(val rss_kb "$last") - $(val rss_kb "$first")))
ctx_growth=$(($(val contexts_bytes "$last") - $(val contexts_bytes "$first")))
fd_growth=$(($(val fds "$last") - $(val fds "$first")))
if [[ -z $first || -z $last ]]; then
  echo "not ok memory and descriptors could not be measured"
  exit 0
fi
if ((rss_growth < 2048)); then
  echo "ok resident memory flat over the failing queries (grew ${rss_growth} kB)"
else
  echo "not ok resident memory grew ${rss_growth} kB"
fi
if ((ctx_growth <= 65536)); then
  echo "ok memory contexts flat (grew ${ctx_growth} bytes)"
else
  echo "not ok memory contexts grew ${ctx_growth} bytes"
fi
if ((fd_growth <= 2)); then
  echo "ok file descriptors flat (changed by ${fd_growth})"
else
  echo "not ok file descriptors grew by ${fd_growth}"
fi
