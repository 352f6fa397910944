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

-- EXPLAIN q (a whole EXPLAIN statement) as 15 to 18 all print it, where
-- only the form differs between majors: 18's "actual rows=2.00" is 15's
-- "actual rows=2" (a whole number only: a fraction stays, and fails), 18's
-- "Disabled": false of the JSON and YAML formats goes, and an initplan's
-- value is named as 17 names it ("InitPlan 1" and "(InitPlan 1).col1"
-- where 15 and 16 print "InitPlan 1 (returns $0)" and "$0")
CREATE FUNCTION explain_filter(q text) RETURNS TABLE ("QUERY PLAN" text)
LANGUAGE plpgsql AS $$
DECLARE
  lines text[] := '{}';
  ln text;
  m text[];
  params text[];
  i int;
  j int;
  k int;
BEGIN
  FOR ln IN EXECUTE q LOOP
    lines := lines || ln;
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(lines, 1), 0) LOOP
    m := regexp_match(lines[i], 'InitPlan ([0-9]+) \(returns ([$0-9,]+)\)');
    CONTINUE WHEN m IS NULL;
    lines[i] := replace(lines[i], ' (returns ' || m[2] || ')', '');
    params := string_to_array(m[2], ',');
    FOR k IN 1 .. array_length(params, 1) LOOP
      FOR j IN 1 .. array_length(lines, 1) LOOP
        lines[j] := regexp_replace(lines[j], '\' || params[k] || '(?![0-9])',
                                   format('(InitPlan %s).col%s', m[1], k), 'g');
      END LOOP;
    END LOOP;
  END LOOP;
  FOREACH ln IN ARRAY lines LOOP
    ln := regexp_replace(ln, '((rows=|Actual Rows: |"Actual Rows": )[0-9]+)\.00(?![0-9])', '\1', 'g');
    "QUERY PLAN" := regexp_replace(ln, '\n *"?Disabled"?: false,?(?=\n)', '', 'g');
    RETURN NEXT;
  END LOOP;
END $$;

-- plain EXPLAIN: the plan only
EXPLAIN (COSTS OFF)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31';
-- VERBOSE: the conditions used and the requests, without host or key
EXPLAIN (COSTS OFF, VERBOSE)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31';
EXPLAIN (COSTS OFF, VERBOSE)
SELECT time, size FROM segment_sizes WHERE segment_id IN ('abc', 'xyz') AND time >= '2024-01-01' AND time < '2024-05-01' AND size > 100;
-- values known only at execution (an initplan here)
SELECT * FROM explain_filter($$EXPLAIN (COSTS OFF, VERBOSE)
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'seg-' || i FROM generate_series(1, 50) i)) AND time >= '2024-01-01' AND time < '2025-01-01'$$);
-- many requests are summarized
EXPLAIN (COSTS OFF, VERBOSE)
SELECT count(*) FROM segment_sizes
WHERE segment_id IN ('s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8') AND time = '2024-01-01';
-- a join: the outer value is pushed, the requests are known only then
EXPLAIN (COSTS OFF, VERBOSE)
SELECT m.name, s.size FROM my_segments m JOIN segment_sizes s ON s.segment_id = m.segment_id
WHERE s.time = '2024-01-01';
-- other formats
SELECT * FROM explain_filter($$EXPLAIN (COSTS OFF, VERBOSE, FORMAT JSON)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-31'$$);
-- none of this sent a request
SELECT count(*) AS requests FROM standin.requests();

-- EXPLAIN ANALYZE: the requests sent, and responses reused across rescans
SELECT * FROM explain_filter($$EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, BUFFERS OFF)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-02'$$);
SELECT * FROM explain_filter($$EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, BUFFERS OFF, FORMAT YAML)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-02'$$);
SELECT * FROM explain_filter($$EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, BUFFERS OFF)
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT 'seg-' || i FROM generate_series(1, 50) i)) AND time >= '2024-01-01' AND time < '2025-01-01'$$);
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
SELECT * FROM explain_filter($$EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, BUFFERS OFF)
SELECT v.segment_id, s.size FROM visits v LEFT JOIN segment_sizes s
  ON s.segment_id = v.segment_id AND s.time = '2024-01-01'$$);
RESET enable_memoize;
RESET segment_fdw.batch_joins;
SELECT * FROM standin.requests();
-- the batched join: one run, each distinct segment once, concurrently
SELECT standin.reset() \gset
SELECT * FROM explain_filter($$EXPLAIN (ANALYZE, COSTS OFF, VERBOSE, TIMING OFF, SUMMARY OFF, BUFFERS OFF)
SELECT v.segment_id, s.size FROM visits v LEFT JOIN segment_sizes s
  ON s.segment_id = v.segment_id AND s.time = '2024-01-01'$$);
SELECT * FROM standin.requests();

DROP TABLE my_segments, visits;
DROP SERVER braze CASCADE;
\i test/teardown.sql
