--
-- concurrency: requests of a scan overlap, up to max_concurrency, on
-- connections kept alive across queries
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
CREATE TABLE tracked AS SELECT 'seg-' || i AS segment_id FROM generate_series(1, 16) i;

-- every request takes 200 ms at the stand-in: 16 requests, 8 at a time
SELECT count(*) FROM standin.get('/__control/set?latency_ms=200');
SELECT count(*), count(DISTINCT segment_id), min(time), max(time)
FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT segment_id FROM tracked)) AND time = '2024-01-01';
SELECT standin.stats();

-- a long range: its windows are fetched at once too
SELECT standin.reset() \gset
SELECT count(*) FROM standin.get('/__control/set?latency_ms=200');
SELECT count(*), min(time), max(time) FROM segment_sizes
WHERE segment_id = 'abc' AND time >= '2023-01-01' AND time < '2025-01-01';
SELECT standin.stats();

-- max_concurrency bounds the transfers in flight
SELECT standin.reset() \gset
SELECT count(*) FROM standin.get('/__control/set?latency_ms=50');
ALTER SERVER braze OPTIONS (ADD max_concurrency '3');
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT segment_id FROM tracked)) AND time = '2024-01-01';
SELECT standin.stats();
ALTER SERVER braze OPTIONS (SET max_concurrency '1');
-- a new session starts without connections
\c -
SELECT standin.reset() \gset
SELECT count(*) FROM standin.get('/__control/set?latency_ms=10');
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT segment_id FROM tracked)) AND time = '2024-01-01';
-- one connection serves all the requests, and the next queries too
SELECT count(*) FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes WHERE segment_id = 'xyz' AND time = '2024-01-01';
SELECT standin.stats();

-- the failure of one transfer aborts the others: the query fails at once,
-- not after the slow ones
ALTER SERVER braze OPTIONS (SET max_concurrency '8');
SELECT standin.reset() \gset
SELECT clock_timestamp() AS started \gset
SELECT count(*) FROM segment_sizes
WHERE segment_id IN ('slow-20000', 'slow-20001', 'http-500') AND time = '2024-01-01';
SELECT clock_timestamp() - :'started' < interval '10 seconds' AS failed_fast;
-- and the backend goes on working, on a clean slate
SELECT count(*) FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';

DROP TABLE tracked;
DROP SERVER braze CASCADE;
\i test/teardown.sql
