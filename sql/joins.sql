--
-- joins: a join on segment_id whose inner side is a segment_fdw table reads
-- its outer side first and fetches its distinct segments in one concurrent
-- batch (segment_fdw.batch_joins); every shape gives what the nested loop
-- gives, which each test checks by running it both ways
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

-- 12 rows: ids seg-1 .. seg-8, seg-2 and seg-3 twice, two NULLs
CREATE TABLE tracked (id text, grp int, threshold bigint);
INSERT INTO tracked
SELECT 'seg-' || i, i % 3, 14610 + i * 7 FROM generate_series(1, 8) i;
INSERT INTO tracked VALUES ('seg-2', 5, 0), ('seg-3', 5, 0), (NULL, 1, 0), (NULL, 5, 0);
-- an index on the joined column, as an outer table usually has: the join
-- clause is then derived from this side first, and the plans print it as
-- (t.id = s.segment_id) on every major (without it, 17, 18 and the matrix's
-- 16.14 print the one the foreign scan derived, (s.segment_id = t.id))
CREATE INDEX ON tracked (id);
ANALYZE tracked;
CREATE VIEW tracked_view AS SELECT id, grp FROM tracked WHERE grp <> 0;

-- Runs a query with the batched join on, then off; returns the plan's join
-- node with it on, the rows, the requests each way (as the stand-in saw
-- them), and whether both gave the same rows (EXCEPT ALL both ways).
CREATE FUNCTION compare_join(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  node text := 'none';
  line text;
  n_on bigint;
  n_off bigint;
  req_on text;
  req_off text;
  diff bigint;
BEGIN
  SET LOCAL segment_fdw.batch_joins = on;
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF line ~ 'SegmentBatchJoin' THEN
      node := 'batched';
    END IF;
  END LOOP;
  IF node = 'none' THEN
    node := 'not batched';
  END IF;
  PERFORM standin.reset();
  EXECUTE 'CREATE TEMP TABLE result_on AS ' || q;
  SELECT split_part(standin.stats(), ' ', 1) INTO req_on;
  SET LOCAL segment_fdw.batch_joins = off;
  PERFORM standin.reset();
  EXECUTE 'CREATE TEMP TABLE result_off AS ' || q;
  SELECT split_part(standin.stats(), ' ', 1) INTO req_off;
  SELECT count(*) INTO n_on FROM result_on;
  SELECT count(*) INTO n_off FROM result_off;
  SELECT count(*) INTO diff FROM ((TABLE result_on EXCEPT ALL TABLE result_off)
                                  UNION ALL
                                  (TABLE result_off EXCEPT ALL TABLE result_on)) d;
  DROP TABLE result_on;
  DROP TABLE result_off;
  SET LOCAL segment_fdw.batch_joins = on;
  RETURN format('%s: rows %s/%s, on %s, off %s, %s', node, n_on, n_off,
                req_on, req_off, CASE WHEN diff = 0 THEN 'same' ELSE diff || ' differ' END);
END $$;

-- the plan: the outer side, then the foreign table with its own conditions
EXPLAIN (VERBOSE, COSTS OFF)
SELECT t.id, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time >= '2024-01-01' AND s.time < '2024-01-04';
SET segment_fdw.batch_joins = off;
EXPLAIN (COSTS OFF)
SELECT t.id, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time >= '2024-01-01' AND s.time < '2024-01-04';
RESET segment_fdw.batch_joins;

-- the rows, and one request per distinct id, however often it repeats
SELECT t.id, t.grp, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time >= '2024-01-01' AND s.time < '2024-01-03'
ORDER BY 1, 2, 3;
SELECT standin.requests();

-- EXPLAIN ANALYZE: the inner scan's figures, as a scan shows them
SELECT standin.reset() \gset
SELECT count(*) FROM standin.get('/__control/set?latency_ms=100');
SELECT standin.explain_braze($$
SELECT t.id, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time = '2024-01-01'$$);
SELECT split_part(standin.stats(), ' ', 1) AS requests, split_part(standin.stats(), ' ', 3) AS in_flight;
-- and the join's own (the lines whose form does not vary across majors)
CREATE FUNCTION join_figures(q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF btrim(line) ~ '^(Custom Scan|Join Type|Segment Key|Join Filter|Filter|Outer Rows Read|Outer Rows Stored|Distinct Segment Ids|Rounds)' THEN
      RETURN NEXT regexp_replace(btrim(line), ' \(actual.*', '');
    END IF;
  END LOOP;
END $$;
SELECT join_figures($$
SELECT t.id, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time = '2024-01-01'$$);
SELECT standin.reset() \gset

-- every shape, on and off
-- inner join, with duplicates and NULL ids on the outer side
SELECT compare_join($$SELECT t.id, t.grp, s.time, s.size FROM tracked t
  JOIN segment_sizes s ON s.segment_id = t.id
  WHERE s.time >= '2024-01-01' AND s.time < '2024-01-04'$$);
-- a join clause besides segment_id
SELECT compare_join($$SELECT t.id, t.grp, s.time, s.size FROM tracked t
  JOIN segment_sizes s ON s.segment_id = t.id AND s.size > t.threshold * 10
  WHERE s.time >= '2024-01-01' AND s.time < '2024-01-04'$$);
-- left join: NULL ids and rows that no inner row matches are kept
SELECT compare_join($$SELECT t.id, t.grp, s.time, s.size FROM tracked t
  LEFT JOIN segment_sizes s ON s.segment_id = t.id AND s.time = '2024-01-02'
    AND s.size % 2 = 0$$);
SELECT t.id, t.grp, s.time, s.size FROM tracked t
LEFT JOIN segment_sizes s ON s.segment_id = t.id AND s.time = '2024-01-02' AND s.size % 2 = 0
ORDER BY 1, 2, 3;
-- left join with a filter over the joined row
SELECT compare_join($$SELECT t.id, t.grp, s.time, s.size FROM tracked t
  LEFT JOIN segment_sizes s ON s.segment_id = t.id AND s.time = '2024-01-02'
  WHERE s.size IS NULL OR s.size > t.threshold$$);
-- semi and anti joins
SELECT compare_join($$SELECT t.id, t.grp FROM tracked t WHERE EXISTS (
  SELECT 1 FROM segment_sizes s WHERE s.segment_id = t.id AND s.time = '2024-01-02'
    AND s.size % 2 = 0)$$);
SELECT compare_join($$SELECT t.id, t.grp FROM tracked t WHERE NOT EXISTS (
  SELECT 1 FROM segment_sizes s WHERE s.segment_id = t.id AND s.time = '2024-01-02'
    AND s.size % 2 = 0)$$);
SELECT t.id, t.grp FROM tracked t WHERE NOT EXISTS (
  SELECT 1 FROM segment_sizes s WHERE s.segment_id = t.id AND s.time = '2024-01-02'
    AND s.size % 2 = 0)
ORDER BY 1, 2;
-- a view, a CTE, a VALUES list
SELECT compare_join($$SELECT v.id, s.time, s.size FROM tracked_view v
  JOIN segment_sizes s ON s.segment_id = v.id WHERE s.time = '2024-01-01'$$);
SELECT compare_join($$WITH c AS MATERIALIZED (SELECT id FROM tracked WHERE grp = 1)
  SELECT c.id, s.time, s.size FROM c JOIN segment_sizes s ON s.segment_id = c.id
  WHERE s.time = '2024-01-01'$$);
SELECT compare_join($$SELECT v.id, s.time, s.size FROM (VALUES ('a'), ('b'), ('a'), ('c')) v(id)
  JOIN segment_sizes s ON s.segment_id = v.id WHERE s.time = '2024-01-01'$$);
-- the segment catalog (another foreign table) with a name filter
SELECT compare_join($$SELECT m.name, s.time, s.size FROM braze.segments m
  JOIN segment_sizes s ON s.segment_id = m.id
  WHERE m.name LIKE 'Trial%' AND s.time >= '2024-01-01' AND s.time < '2024-01-31'$$);
-- and details of the listed segments
SELECT compare_join($$SELECT m.id, d.created_at FROM braze.segments m
  JOIN braze.segment_details d ON d.segment_id = m.id WHERE m.name LIKE 'Trial%'$$);
-- an expression of the outer side
SELECT compare_join($$SELECT g, s.size FROM generate_series(1, 5) g
  JOIN segment_sizes s ON s.segment_id = 'seg-' || g WHERE s.time = '2024-01-01'$$);
-- LATERAL keeps the nested loop
SELECT compare_join($$SELECT t.id, s.size FROM tracked t, LATERAL (
  SELECT * FROM segment_sizes s WHERE s.segment_id = t.id AND s.time = '2024-01-01'
  LIMIT 1) s$$);
-- FOR UPDATE of the local table keeps the nested loop
SELECT compare_join($$SELECT t.id, s.size FROM tracked t
  JOIN segment_sizes s ON s.segment_id = t.id WHERE s.time = '2024-01-01'
  FOR UPDATE OF t$$);
-- the whole join rescanned, from a correlated subquery
SELECT compare_join($$SELECT g, (SELECT sum(s.size) FROM tracked t
  JOIN segment_sizes s ON s.segment_id = t.id
  WHERE t.grp = g AND s.time = '2024-01-01') FROM generate_series(0, 5) g$$);

-- the same, with an outer side that starts over only when told its
-- parameter changed (a HashAggregate): the join must tell it
SET enable_sort = off;
SELECT compare_join($$SELECT g, (SELECT count(*) || '/' || coalesce(sum(s.size), 0)
  FROM (SELECT DISTINCT id FROM tracked WHERE grp = g) t
  JOIN segment_sizes s ON s.segment_id = t.id
  WHERE s.time >= '2024-01-01' AND s.time < '2024-01-03') FROM generate_series(0, 2) g$$);
RESET enable_sort;

-- an outer side larger than work_mem: it spills, and each id is asked once
CREATE TABLE many AS SELECT 'seg-' || (i % 20) AS id, i FROM generate_series(1, 20000) i;
CREATE INDEX ON many (id);  -- as on tracked: the same Join Filter on every major
ANALYZE many;
SET work_mem = '64kB';
SELECT compare_join($$SELECT m.i, s.size FROM many m
  JOIN segment_sizes s ON s.segment_id = m.id WHERE s.time = '2024-01-01'$$);
SELECT join_figures($$SELECT m.i, s.size FROM many m
  JOIN segment_sizes s ON s.segment_id = m.id WHERE s.time = '2024-01-01'$$);
RESET work_mem;

-- a prepared statement with a generic plan
SELECT standin.reset() \gset
SET plan_cache_mode = force_generic_plan;
PREPARE p(date, int) AS
SELECT t.id, s.time, s.size FROM tracked t JOIN segment_sizes s ON s.segment_id = t.id
WHERE s.time = $1 AND t.grp = $2 ORDER BY 1, 2;
EXPLAIN (COSTS OFF) EXECUTE p('2024-01-01', 1);
EXECUTE p('2024-01-01', 1);
EXECUTE p('2024-01-05', 2);
SELECT standin.requests();
DEALLOCATE p;
RESET plan_cache_mode;

-- 16 segments at 200 ms each: 8 in flight, two round trips
SELECT standin.reset() \gset
SELECT count(*) FROM standin.get('/__control/set?latency_ms=200');
CREATE TABLE sixteen AS SELECT 'seg-' || i AS id FROM generate_series(1, 16) i;
ANALYZE sixteen;
SELECT clock_timestamp() AS started \gset
SELECT count(*), count(DISTINCT s.segment_id) FROM sixteen x
JOIN segment_sizes s ON s.segment_id = x.id WHERE s.time = '2024-01-01';
SELECT clock_timestamp() - :'started' < interval '1 second' AS concurrent;
SELECT split_part(standin.stats(), ' ', 1) AS requests, split_part(standin.stats(), ' ', 3) AS in_flight;

-- max_requests bounds the whole join: a round that would bring it past the
-- cap is refused before it is sent (here the first, which holds all 16)
SELECT standin.reset() \gset
ALTER SERVER braze OPTIONS (ADD max_requests '10');
SELECT count(*) FROM sixteen x
JOIN segment_sizes s ON s.segment_id = x.id WHERE s.time = '2024-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
-- and 16 segments of two windows each (32 requests) are refused too
ALTER SERVER braze OPTIONS (SET max_requests '20');
SELECT count(*) FROM sixteen x
JOIN segment_sizes s ON s.segment_id = x.id
WHERE s.time >= '2024-01-01' AND s.time < '2024-05-01';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
ALTER SERVER braze OPTIONS (DROP max_requests);

-- cancel while the batch is in flight
SELECT count(*) FROM standin.get('/__control/set?latency_ms=5000');
SET statement_timeout = '500ms';
SELECT count(*) FROM sixteen x
JOIN segment_sizes s ON s.segment_id = x.id WHERE s.time = '2024-01-02';
RESET statement_timeout;
SELECT standin.reset() \gset
SELECT count(*) FROM sixteen x
JOIN segment_sizes s ON s.segment_id = x.id WHERE s.time = '2024-01-01';

-- Shapes an untrusted role can write (issue 16).  A view whose filter
-- references no column puts a one-time filter (a Result) above the scan:
-- that keeps the nested loop, and a role that can only SELECT the view gets
-- the nested loop's rows
CREATE VIEW guarded_sizes AS SELECT * FROM segment_sizes WHERE current_user <> 'nobody';
CREATE ROLE regress_join_reader;
GRANT SELECT ON tracked, guarded_sizes TO regress_join_reader;
SET ROLE regress_join_reader;
SELECT t.id, v.time, v.size FROM tracked t
LEFT JOIN guarded_sizes v ON v.segment_id = t.id AND v.time = '2024-01-02'
ORDER BY 1, 2;
SELECT count(*) FROM tracked t
JOIN guarded_sizes v ON v.segment_id = t.id AND v.time = '2024-01-02';
SELECT count(*) FROM tracked t
WHERE EXISTS (SELECT FROM guarded_sizes v WHERE v.segment_id = t.id AND v.time = '2024-01-02');
RESET ROLE;
-- (where the planner puts the one-time filter varies across majors, so
-- whether the join is batched and the scan runs does too: the rows do not)
SELECT regexp_replace(compare_join($$SELECT t.id, v.time, v.size FROM tracked t
  LEFT JOIN guarded_sizes v ON v.segment_id = t.id AND v.time = '2024-01-02'$$),
  '^(not )?batched: (rows [0-9/]+), .*, ', '\2, ') AS compare_join;
-- and one that is false: no inner row, the outer rows null-extended
CREATE VIEW nobodys_sizes AS SELECT * FROM segment_sizes WHERE current_user = 'nobody';
SELECT regexp_replace(compare_join($$SELECT t.id, v.time, v.size FROM tracked t
  LEFT JOIN nobodys_sizes v ON v.segment_id = t.id AND v.time = '2024-01-02'$$),
  '^(not )?batched: (rows [0-9/]+), .*, ', '\2, ') AS compare_join;
SELECT count(*), count(v.size) FROM tracked t
LEFT JOIN nobodys_sizes v ON v.segment_id = t.id AND v.time = '2024-01-02';
-- a parameter of a generic plan in the join clause: a one-time filter too
PREPARE guarded(text) AS SELECT t.id, s.size FROM tracked t
  JOIN segment_sizes s ON s.segment_id = t.id AND s.time = '2024-01-02' AND $1 <> 'x';
SET plan_cache_mode = force_generic_plan;
EXECUTE guarded('y');
RESET plan_cache_mode;
DEALLOCATE guarded;

-- a varchar(5) segment_id: 'seg-1   ' and 'seg-12' cannot be values of it
-- (its input function would cut the spaces, or refuse the id), so they
-- are not asked, and no row of seg-1 comes back under them
CREATE FOREIGN TABLE sizes_v5 (segment_id varchar(5), time date, size bigint) SERVER braze;
CREATE TABLE spaced (id text);
INSERT INTO spaced VALUES ('seg-1'), ('seg-1   '), ('seg-12'), (''), (NULL);
SELECT compare_join($$SELECT p.id, s.segment_id, s.size FROM spaced p
  JOIN sizes_v5 s ON s.segment_id = p.id WHERE s.time = '2024-01-02'$$);
SELECT p.id, s.segment_id, s.size FROM spaced p
JOIN sizes_v5 s ON s.segment_id = p.id WHERE s.time = '2024-01-02';
SELECT compare_join($$SELECT p.id, s.segment_id, s.size FROM spaced p
  LEFT JOIN sizes_v5 s ON s.segment_id = p.id AND s.time = '2024-01-02'$$);
-- the plain scan: each day once, under the id asked for
SELECT standin.reset() \gset
SELECT * FROM sizes_v5 WHERE segment_id IN ('seg-1', 'seg-1   ') AND time = '2024-01-02';
SELECT * FROM standin.requests();

-- max_requests counts only what is sent: empty ids are never sent, and a
-- time range that holds no day sends nothing
ALTER SERVER braze OPTIONS (ADD max_requests '2');
CREATE TABLE blanks (id text);
INSERT INTO blanks VALUES ('seg-1'), ('seg-2'), (''), ('');
SELECT compare_join($$SELECT b.id, s.size FROM blanks b
  JOIN segment_sizes s ON s.segment_id = b.id WHERE s.time = '2024-01-02'$$);
SELECT compare_join($$SELECT x.id, s.size FROM sixteen x
  JOIN segment_sizes s ON s.segment_id = x.id
  WHERE s.time > '2024-01-02' AND s.time < '2024-01-03'$$);
SELECT compare_join($$SELECT x.id, s.size FROM sixteen x
  LEFT JOIN segment_sizes s ON s.segment_id = x.id AND s.time IS NULL$$);
ALTER SERVER braze OPTIONS (DROP max_requests);

-- rounds: 500 distinct ids are asked 32 at a time (4 x max_concurrency),
-- the next round in flight while one is joined, so LIMIT and EXISTS stop
-- after two rounds at most, where a single batch sent all 500
CREATE TABLE five_hundred AS SELECT 'seg-' || i AS id FROM generate_series(1, 500) i;
ANALYZE five_hundred;
SELECT standin.reset() \gset
SELECT count(*) FROM (SELECT s.size FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02' LIMIT 1) q;
SELECT substring(standin.stats() FROM 'requests=([0-9]+)')::int BETWEEN 32 AND 64 AS at_most_two_rounds;
SELECT standin.reset() \gset
SELECT EXISTS (SELECT FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02');
SELECT substring(standin.stats() FROM 'requests=([0-9]+)')::int BETWEEN 32 AND 64 AS at_most_two_rounds;
SELECT f FROM join_figures($$SELECT s.size FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02' LIMIT 1$$) f
WHERE f !~ '^Join Filter';
-- all of them: 16 rounds, each id asked once
SELECT standin.reset() \gset
SELECT f FROM join_figures($$SELECT s.size FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02'$$) f
WHERE f !~ '^Join Filter';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
SELECT compare_join($$SELECT f.id, s.size FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02'$$);
-- max_requests over the rounds: the round that would pass it is refused
-- before it is sent, the rounds before it were
ALTER SERVER braze OPTIONS (ADD max_requests '100');
SELECT standin.reset() \gset
SELECT count(*) FROM five_hundred f
JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02';
SELECT split_part(standin.stats(), ' ', 1) AS requests;
ALTER SERVER braze OPTIONS (DROP max_requests);

-- the join's clauses are plan expressions PostgreSQL sees (custom_exprs): a
-- relation named in one (here a regclass constant, from an inlined SQL
-- function, so only the plan holds it) is a dependency of the plan, and a
-- cached plan is made again when that relation is renamed away and another
-- takes its name (before, the join kept the old relation and found no row)
CREATE TABLE join_dep ();
CREATE TABLE join_dep_new ();
CREATE FUNCTION join_dep_name(text) RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT 'join_dep'::regclass::text || $1 $$;
SET plan_cache_mode = force_generic_plan;
PREPARE dep_join AS
SELECT t.id, s.size FROM tracked t JOIN segment_sizes s
  ON s.segment_id = t.id AND join_dep_name(s.segment_id) = 'join_dep' || t.id
WHERE s.time = '2024-01-02' AND t.grp = 1 ORDER BY t.id;
DO $$
DECLARE
  line text;
  batched bool := false;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) EXECUTE dep_join' LOOP
    batched := batched OR line ~ 'SegmentBatchJoin';
  END LOOP;
  RAISE NOTICE 'batched join: %', batched;
END $$;
EXECUTE dep_join;
BEGIN;
ALTER TABLE join_dep RENAME TO join_dep_old;
ALTER TABLE join_dep_new RENAME TO join_dep;
COMMIT;
EXECUTE dep_join;
DEALLOCATE dep_join;
RESET plan_cache_mode;
DROP TABLE join_dep, join_dep_old;
DROP FUNCTION join_dep_name(text);

-- the same shapes as a role that can only SELECT (with a mapping of its own)
CREATE USER MAPPING FOR regress_join_reader SERVER braze OPTIONS (api_key 'regress-key');
GRANT SELECT ON segment_sizes, sizes_v5, spaced, five_hundred TO regress_join_reader;
SET ROLE regress_join_reader;
SELECT p.id, s.segment_id, s.size FROM spaced p
JOIN sizes_v5 s ON s.segment_id = p.id WHERE s.time = '2024-01-02';
SELECT * FROM sizes_v5 WHERE segment_id IN ('seg-1', 'seg-1   ') AND time = '2024-01-02';
SELECT count(*) FROM (SELECT s.size FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02' LIMIT 1) q;
SELECT EXISTS (SELECT FROM five_hundred f
  JOIN segment_sizes s ON s.segment_id = f.id WHERE s.time = '2024-01-02');
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN SYMMETRIC '2024-01-04' AND '2024-01-01';
RESET ROLE;
DROP USER MAPPING FOR regress_join_reader SERVER braze;
REVOKE ALL ON segment_sizes, sizes_v5 FROM regress_join_reader;

DROP VIEW guarded_sizes, nobodys_sizes;
DROP TABLE tracked, many, sixteen, spaced, blanks, five_hundred CASCADE;
DROP ROLE regress_join_reader;
DROP FOREIGN TABLE sizes_v5;
DROP FUNCTION compare_join(text), join_figures(text);
DROP SCHEMA braze CASCADE;
DROP SERVER braze CASCADE;
\i test/teardown.sql
