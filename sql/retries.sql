--
-- retries: passing failures are retried with back-off, rate limits waited
-- out within max_retry_wait_ms; final failures say how many attempts
--
\i test/setup.sql
\set SHOW_CONTEXT never

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
-- the messages of errors, with their hints checked by pattern (they hold times)
CREATE FUNCTION error_of(query text, OUT code text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
END $$;

-- 500, 502, 503, 504 and broken connections are retried (max_retries 3)
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-2-503' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-500' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-502' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-3-504' AND time = '2024-01-01';
SELECT * FROM standin.requests();
SELECT * FROM standin.explain_braze($$
  SELECT * FROM segment_sizes WHERE segment_id = 'flaky-2-502' AND time = '2024-01-02'$$);
-- until max_retries runs out; the error says how many attempts were made
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-9-503' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'reset' AND time = '2024-01-01';
SELECT count(*) AS requests FROM standin.requests();
-- other statuses are never retried
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-404' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-400' AND time = '2024-01-01';
SELECT count(*) AS requests FROM standin.requests();
-- max_retries 0 turns retries off
ALTER SERVER braze OPTIONS (ADD max_retries '0');
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-503' AND time = '2024-01-01';
SELECT count(*) AS requests FROM standin.requests();
ALTER SERVER braze OPTIONS (DROP max_retries);

-- a timeout applies to each attempt (terse: the detail holds the
-- milliseconds measured)
ALTER SERVER braze OPTIONS (ADD timeout_ms '200', ADD max_retries '1');
\set VERBOSITY terse
SELECT * FROM segment_sizes WHERE segment_id = 'slow-2000' AND time = '2024-01-01';
\set VERBOSITY default
ALTER SERVER braze OPTIONS (DROP timeout_ms, DROP max_retries);
-- timeouts count the time spent waiting on Braze, not the time the query
-- spends elsewhere: a transfer left in flight while the rows of another are
-- consumed slowly (50 rows at 30 ms, 1.5 s) does not time out unread
ALTER SERVER braze OPTIONS (ADD timeout_ms '1000', ADD max_retries '0');
SELECT standin.reset() \gset
SELECT count(*) FROM (SELECT pg_sleep(0.03), * FROM segment_sizes
  WHERE segment_id IN ('abc', 'slow-200') AND time BETWEEN '2024-01-01' AND '2024-02-19') s;
SELECT * FROM standin.requests();
-- a cursor idle between FETCHes longer than timeout_ms, likewise
SELECT standin.reset() \gset
BEGIN;
DECLARE c CURSOR FOR SELECT segment_id, time FROM segment_sizes
  WHERE segment_id IN ('abc', 'slow-200') AND time BETWEEN '2024-01-01' AND '2024-01-03';
FETCH 2 FROM c;
SELECT pg_sleep(1.5);
FETCH ALL FROM c;
COMMIT;
SELECT * FROM standin.requests();
-- and a server that does not answer still times out, once
SELECT standin.reset() \gset
\set VERBOSITY terse
SELECT count(*) FROM (SELECT pg_sleep(0.03), * FROM segment_sizes
  WHERE segment_id IN ('abc', 'slow-20000') AND time BETWEEN '2024-01-01' AND '2024-02-19') s;
\set VERBOSITY default
SELECT * FROM standin.requests();
ALTER SERVER braze OPTIONS (DROP timeout_ms, DROP max_retries);
-- and connect_timeout_ms is named when the connection is what timed out
\getenv blackhole_url SEGMENT_FDW_TEST_BLACKHOLE_URL
CREATE SERVER braze_blackhole FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url :'blackhole_url', connect_timeout_ms '200', max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_blackhole OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE blackhole (segment_id text, time date, size bigint) SERVER braze_blackhole;
\set VERBOSITY terse
SELECT * FROM blackhole WHERE segment_id = 'abc' AND time = '2024-01-01';
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE

-- 429: wait for the reset (X-RateLimit-Reset, or Retry-After), then retry
-- (terse: a 429 says X-RateLimit-Remaining 0, which also brings the warning
-- below, whose hint holds the reset time)
\set VERBOSITY terse
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'flaky-1-429' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'retryafter-1' AND time = '2024-01-01';
SELECT count(*) AS requests FROM standin.requests();
-- a reset further away than max_retry_wait_ms: a clear error at once, with
-- the reset time in the hint
SELECT standin.reset() \gset
SELECT code, message, hint ~ '^The rate limit resets at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00; segment_fdw waits for a reset only up to max_retry_wait_ms \(60000 ms\)\.$' AS hint_gives_reset
FROM error_of($$SELECT * FROM segment_sizes WHERE segment_id = 'http-429' AND time = '2024-01-01'$$);
ALTER SERVER braze OPTIONS (ADD max_retry_wait_ms '100');
SELECT code, message, hint
FROM error_of($$SELECT * FROM segment_sizes WHERE segment_id = 'retryafter-1' AND time = '2024-01-03'$$);
ALTER SERVER braze OPTIONS (DROP max_retry_wait_ms);
SELECT count(*) AS requests FROM standin.requests();
-- retries can run out before the wait does: the hint says so
ALTER SERVER braze OPTIONS (ADD max_retries '1');
SELECT code, message, hint ~ '^No retry is left \(max_retries\); the rate limit resets at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00\.$' AS hint_right
FROM error_of($$SELECT * FROM segment_sizes WHERE segment_id = 'retryafter-5' AND time = '2024-01-05'$$);
ALTER SERVER braze OPTIONS (DROP max_retries);

-- one 429 pauses the scan's other requests until the reset
ALTER SERVER braze OPTIONS (ADD max_concurrency '3');
SELECT standin.reset() \gset
SELECT segment_id, size FROM segment_sizes
WHERE segment_id IN ('a1', 'a2', 'flaky-1-429', 'a3', 'a4', 'a5') AND time = '2024-01-01';
CREATE TEMP TABLE arrivals AS
  SELECT split_part(l, E'\t', 1)::bigint AS ms, split_part(split_part(l, E'\t', 3), '=', 2) AS segment_id
  FROM standin.get('/__control/requests?times=1') l;
-- once the 429 was seen (100 ms after it was sent, at the latest), nothing
-- was sent before the reset the 429 announced (the next second); after it,
-- the retry and the requests held back
WITH t AS (SELECT min(ms) AS sent, (min(ms) / 1000 + 1) * 1000 AS reset
           FROM arrivals WHERE segment_id = 'flaky-1-429')
SELECT count(*) AS requests,
       count(*) FILTER (WHERE ms > t.sent + 100 AND ms < t.reset) AS sent_while_paused,
       count(*) FILTER (WHERE ms >= t.reset) >= 2 AS sent_after_reset
FROM arrivals, t;
ALTER SERVER braze OPTIONS (DROP max_concurrency);
\set VERBOSITY default

-- a rate limit nearly used up: one WARNING per query, with the figures of
-- the first response that showed it.  One request at a time, so that the
-- first response is the one the stand-in answered with 1000 left.
SELECT count(*) FROM standin.get('/__control/set?remaining=1000');
ALTER SERVER braze OPTIONS (ADD max_concurrency '1');
\set VERBOSITY terse
SELECT count(*) FROM segment_sizes WHERE segment_id IN ('abc', 'xyz', 'abd') AND time = '2024-01-01';
ALTER SERVER braze OPTIONS (DROP max_concurrency);
-- and with the three requests in flight at once, still one WARNING; every
-- response says 0 left, so which one arrives first does not matter
SELECT count(*) FROM standin.get('/__control/set?remaining=0');
SELECT count(*) FROM segment_sizes WHERE segment_id IN ('abc', 'xyz', 'abd') AND time = '2024-01-01';
\set VERBOSITY default
-- only when under 1% of the limit
SELECT count(*) FROM standin.get('/__control/set?remaining=200000');
SELECT count(*) FROM segment_sizes WHERE segment_id IN ('abc', 'xyz', 'abd') AND time = '2024-01-01';

DROP FUNCTION error_of;
DROP SERVER braze CASCADE;
DROP SERVER braze_blackhole CASCADE;
\i test/teardown.sql
