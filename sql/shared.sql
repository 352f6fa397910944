--
-- shared: the options of what the backends share (max_total_concurrency,
-- rate_limit_reserve, cache_ttl), the rate-limit reserve as one backend
-- sees it, and the SQL functions of 1.1.  The output is the same whether
-- or not the server preloads segment_fdw: where the two differ, a block
-- checks what this server must do and says so in one line.
--
\i test/setup.sql

-- max_total_concurrency: 1 to 256, above 16 only on a superuser's server
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_total_concurrency '0');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_total_concurrency '257');
-- rate_limit_reserve: requests, or a percentage of X-RateLimit-Limit
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', rate_limit_reserve 'some');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', rate_limit_reserve '101%');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', rate_limit_reserve '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', rate_limit_reserve '10 %');
-- cache_ttl: an interval from 0 to 100 years
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', cache_ttl 'a while');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', cache_ttl '-1 hour');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', cache_ttl '200 years');
CREATE SERVER good FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com',
  max_total_concurrency '256', rate_limit_reserve '10%', cache_ttl '12 hours');
ALTER SERVER good OPTIONS (SET rate_limit_reserve '2500', SET cache_ttl '0');
DROP SERVER good;

-- a role that may own servers keeps max_total_concurrency at 16 or below
CREATE ROLE regress_shared_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER segment_fdw TO regress_shared_owner;
SET ROLE regress_shared_owner;
CREATE SERVER theirs FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_total_concurrency '17');
CREATE SERVER theirs FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_total_concurrency '16');
-- and may empty the cache of a server it owns (with shared memory; without,
-- the error says there is none), never the whole cache
DO $$
BEGIN
  BEGIN
    PERFORM segment_fdw_cache_reset();
  EXCEPTION WHEN insufficient_privilege OR object_not_in_prerequisite_state THEN
    RAISE NOTICE 'the whole cache: % (%)', SQLERRM, SQLSTATE;
  END;
  BEGIN
    PERFORM segment_fdw_cache_reset('theirs');
    RAISE NOTICE 'its own server: allowed';
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'its own server: allowed';
  END;
END $$;
SELECT segment_fdw_stats_reset();
RESET ROLE;
DROP SERVER theirs;
DROP OWNED BY regress_shared_owner;
DROP ROLE regress_shared_owner;

-- the reserve, as this backend sees the budget: 1000 left, 990 reserved
-- (terse: the reset time, in the warning's hint and the error's detail,
-- is the next hour)
\set VERBOSITY terse
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url :'api_url', max_retries '0', rate_limit_reserve '990');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key-reserve');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
-- (the budget is known until the stand-in's hour resets: not across it)
SELECT count(*) FROM pg_sleep(CASE WHEN extract(minute FROM clock_timestamp()) = 59
  AND extract(second FROM clock_timestamp()) >= 50 THEN 62 - extract(second FROM clock_timestamp()) ELSE 0 END);
SELECT count(*) FROM standin.get('/__control/set?remaining=1000');
SELECT count(*) FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
SELECT standin.reset();
-- 20 requests would leave 979: refused before any is sent
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'r-' || g FROM generate_series(1, 20) g)) AND time = '2024-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
-- 9 fit
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'r-' || g FROM generate_series(1, 9) g)) AND time = '2024-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
-- off: 0
ALTER SERVER braze OPTIONS (SET rate_limit_reserve '0');
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'r-' || g FROM generate_series(1, 20) g)) AND time = '2024-01-01';
SELECT count(*) FROM standin.get('/__control/reset');

-- the statistics: shared memory's, or an error that says it is not there
DO $$
DECLARE
  preloaded bool := current_setting('shared_preload_libraries') ~ 'segment_fdw';
  n bigint;
BEGIN
  SELECT count(*) INTO n FROM segment_fdw_stats WHERE server = 'braze';
  IF NOT preloaded THEN
    RAISE EXCEPTION 'segment_fdw_stats answered without shared memory';
  END IF;
  RAISE NOTICE 'segment_fdw_stats: as this server must (a row for braze: %)', n = 1;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  IF preloaded OR SQLERRM <> 'segment_fdw_stats needs segment_fdw in shared_preload_libraries' THEN
    RAISE;
  END IF;
  RAISE NOTICE 'segment_fdw_stats: as this server must (a row for braze: %)', true;
END $$;

DROP SERVER braze CASCADE;
\i test/teardown.sql
