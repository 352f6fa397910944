--
-- explain: what is pushed down and which requests a scan sends
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
CREATE TABLE my_segments (segment_id text PRIMARY KEY, name text);
INSERT INTO my_segments VALUES ('abc', 'trial users'), ('xyz', 'churned');
ANALYZE my_segments;

-- plain EXPLAIN: the plan only
EXPLAIN (COSTS OFF)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31';
-- VERBOSE: the conditions used and the requests, without host or key
EXPLAIN (COSTS OFF, VERBOSE)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31';
EXPLAIN (COSTS OFF, VERBOSE)
SELECT time, size FROM segment_sizes WHERE segment_id IN ('abc', 'xyz') AND time >= '2024-01-01' AND time < '2024-05-01' AND size > 100;
-- values known only at execution (an initplan here)
EXPLAIN (COSTS OFF, VERBOSE)
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'seg-' || i FROM generate_series(1, 50) i)) AND time >= '2024-01-01' AND time < '2025-01-01';
-- many requests are summarized
EXPLAIN (COSTS OFF, VERBOSE)
SELECT count(*) FROM segment_sizes
WHERE segment_id IN ('s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8') AND time = '2024-01-01';
-- a join: the outer value is pushed, the requests are known only then
EXPLAIN (COSTS OFF, VERBOSE)
SELECT m.name, s.size FROM my_segments m JOIN segment_sizes s ON s.segment_id = m.segment_id
WHERE s.time = '2024-01-01';
-- other formats
EXPLAIN (COSTS OFF, VERBOSE, FORMAT JSON)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31';
-- none of this sent a request
SELECT count(*) AS requests FROM standin.requests();

-- EXPLAIN ANALYZE: the requests sent, and responses reused across rescans
EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-02';
EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, FORMAT YAML)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-02';
EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'seg-' || i FROM generate_series(1, 50) i)) AND time >= '2024-01-01' AND time < '2025-01-01';
SELECT standin.reset() \gset
CREATE TABLE visits (segment_id text);
INSERT INTO visits VALUES ('abc'), ('xyz'), ('abc'), ('abc');
ANALYZE visits;
-- a nested loop (batched joins off): a run per outer row, the repeated
-- segments answered from the scan's cache (a left join, whose clause the
-- planner prints as written on every major: an inner join's comes from an
-- equivalence class, whose operand order changed in 16)
SET segment_fdw.batch_joins = off;
SET enable_memoize = off;
EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF)
SELECT v.segment_id, s.size FROM visits v LEFT JOIN segment_sizes s
  ON s.segment_id = v.segment_id AND s.time = '2024-01-01';
RESET enable_memoize;
RESET segment_fdw.batch_joins;
SELECT * FROM standin.requests();
-- the batched join: one run, each distinct segment once, concurrently
SELECT standin.reset() \gset
EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF)
SELECT v.segment_id, s.size FROM visits v LEFT JOIN segment_sizes s
  ON s.segment_id = v.segment_id AND s.time = '2024-01-01';
SELECT * FROM standin.requests();

DROP TABLE my_segments, visits;
DROP SERVER braze CASCADE;
\i test/teardown.sql
