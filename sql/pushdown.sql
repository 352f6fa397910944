--
-- pushdown: query shapes that give segments and days, joins, parameters
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

-- IN, = ANY: one request per distinct segment, in the order given
SELECT * FROM segment_sizes
WHERE segment_id IN ('abc', 'xyz', 'abc') AND time = '2024-01-01';
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = ANY (ARRAY['xyz', NULL, 'abc']) AND time = '2024-01-01';
-- an empty id matches no segment: it is not asked (the API would refuse it)
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id IN ('', 'xyz') AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = '' AND time = '2024-01-01';
SELECT * FROM standin.requests();
-- 20,000 ids of which 15,000 differ: each asked once, in the order first
-- given (EXPLAIN sends nothing)
CREATE FUNCTION request_lines(ids text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  l text;
BEGIN
  FOR l IN EXECUTE format('EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM segment_sizes
                           WHERE segment_id = ANY (%L::text[]) AND time = %L', ids, '2024-01-01')
  LOOP
    IF l LIKE '%Braze Request%' THEN
      RETURN NEXT l;
    END IF;
  END LOOP;
END $$;
SELECT request_lines(ARRAY(SELECT 'id' || (i % 15000) FROM generate_series(1, 20000) i));
DROP FUNCTION request_lines;
-- conditions on segment_id intersect
SELECT * FROM segment_sizes
WHERE segment_id IN ('abc', 'xyz') AND segment_id = 'xyz' AND time = '2024-01-01';
SELECT * FROM standin.requests();

-- time IN (...) and = ANY: windows that hold the days listed, not the days between
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time IN ('2024-01-01', '2024-01-04', '2024-01-02');
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time = ANY (ARRAY['2024-06-01', NULL, '2024-01-01']::date[]);
SELECT * FROM standin.requests();
-- nothing but NULL (or infinity) matches no day: no request
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = ANY ('{NULL,infinity}'::date[]);
SELECT count(*) AS requests FROM standin.requests();

-- an OR of time conditions is the union of its branches' days: BETWEEN
-- SYMMETRIC, days ORed, ranges ORed (issue 16)
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN SYMMETRIC '2024-01-04' AND '2024-01-01';
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND (time = '2024-01-01' OR time = '2024-06-01');
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND ((time BETWEEN '2024-01-01' AND '2024-01-02')
                              OR (time > '2024-03-30' AND time <= '2024-04-01'));
SELECT * FROM standin.requests();
-- a long branch is cut into windows; the other conditions narrow the union
SELECT standin.reset() \gset
SELECT count(*), min(time), max(time) FROM segment_sizes
WHERE segment_id = 'abc' AND (time BETWEEN '2023-01-01' AND '2023-12-31' OR time = '2024-06-01')
  AND time >= '2023-07-01';
SELECT * FROM standin.requests();
-- a branch that holds no day adds none; none holding any: no request
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND (time IS NULL OR time BETWEEN '2024-01-03' AND '2024-01-01' OR time = '2024-01-02');
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND (time IS NULL OR time < '-infinity');
SELECT * FROM standin.requests();
-- a branch with no condition on time bounds nothing: the OR is only a
-- filter, and the days are the default_days (100) up to the upper bound
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND (time = '2024-01-01' OR size > 15000) AND time <= '2024-01-10';
-- EXPLAIN shows the ranges
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN SYMMETRIC '2024-01-04' AND '2024-01-01';
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND (time = '2024-01-01' OR time IN ('2024-02-01', '2024-03-01'));

-- no segment condition: an error before any request, with the form of a valid query
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id LIKE 'ab%' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' OR segment_id = 'xyz';
SELECT count(*) AS requests FROM standin.requests();
-- only text values are pushed: a name (current_user) is compared locally
SELECT * FROM segment_sizes WHERE segment_id = current_user AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = current_user::text AND time = '2024-01-01';

-- a table of the user's segments
CREATE TABLE my_segments (segment_id text PRIMARY KEY, name text);
INSERT INTO my_segments VALUES ('abc', 'trial users'), ('xyz', 'churned'), ('a&b=c d/é', 'odd id');
ANALYZE my_segments;

-- = ANY (ARRAY(SELECT ...)): an initplan, evaluated when the scan starts
SELECT standin.reset() \gset
SELECT * FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT segment_id FROM my_segments ORDER BY name))
  AND time = '2024-01-01';
SELECT * FROM standin.requests();

-- joins: a nested loop pushes each outer segment_id down
SELECT standin.reset() \gset
EXPLAIN (COSTS OFF)
SELECT m.name, s.time, s.size
FROM my_segments m JOIN segment_sizes s ON s.segment_id = m.segment_id
WHERE s.time BETWEEN '2024-01-01' AND '2024-01-02';
SELECT m.name, s.time, s.size
FROM my_segments m JOIN segment_sizes s ON s.segment_id = m.segment_id
WHERE s.time BETWEEN '2024-01-01' AND '2024-01-02'
ORDER BY m.name, s.time;
SELECT * FROM standin.requests();

-- the same (segment, window) twice in the outer side is asked once per
-- scan; a join condition on time is pushed down too
CREATE TABLE events (segment_id text, happened date);
INSERT INTO events VALUES ('abc', '2024-01-01'), ('xyz', '2024-01-01'),
  ('abc', '2024-01-02'), ('abc', '2024-01-01'), ('xyz', '2024-01-01'), ('abc', '2024-01-02');
ANALYZE events;
SELECT standin.reset() \gset
SELECT e.segment_id, e.happened, s.size
FROM events e JOIN segment_sizes s ON s.segment_id = e.segment_id AND s.time = e.happened
WHERE s.time >= '2024-01-01' AND s.time < '2024-01-04'
ORDER BY 1, 2;
SELECT * FROM standin.requests();

-- outer joins, LATERAL and correlated subqueries
SELECT standin.reset() \gset
SELECT m.name, s.size
FROM my_segments m LEFT JOIN segment_sizes s
  ON s.segment_id = m.segment_id AND s.time = '2024-01-01' AND s.size > 15000
ORDER BY m.name;
SELECT m.name, x.days, x.biggest
FROM my_segments m,
  LATERAL (SELECT count(*) AS days, max(size) AS biggest FROM segment_sizes s
           WHERE s.segment_id = m.segment_id AND s.time >= '2024-01-01' AND s.time < '2024-02-01') x
ORDER BY m.name;
SELECT m.name,
  (SELECT size FROM segment_sizes s WHERE s.segment_id = m.segment_id AND s.time = '2024-01-01') AS size
FROM my_segments m ORDER BY m.name;
SELECT count(*) AS requests FROM standin.requests();

-- many outer rows, analyzed: still a parameterized nested loop, never a
-- scan without segment_id
CREATE TABLE tracked AS SELECT 'seg-' || i AS segment_id FROM generate_series(1, 200) i;
-- a key, as my_segments has: the join clause is then derived from this side
-- first, and prints as (t.segment_id = s.segment_id) on every major
ALTER TABLE tracked ADD PRIMARY KEY (segment_id);
ANALYZE tracked;
SELECT standin.reset() \gset
EXPLAIN (COSTS OFF)
SELECT t.segment_id, s.size FROM tracked t JOIN segment_sizes s USING (segment_id)
WHERE s.time = '2024-01-01';
SELECT count(*), count(DISTINCT segment_id), sum(size) FROM tracked t JOIN segment_sizes s USING (segment_id)
WHERE s.time = '2024-01-01';
SELECT count(*) AS requests, count(DISTINCT r) AS distinct_requests FROM standin.requests() r;

-- prepared statements: custom plans, then the generic plan
SELECT standin.reset() \gset
PREPARE q(text, date, date) AS
  SELECT time, size FROM segment_sizes WHERE segment_id = $1 AND time BETWEEN $2 AND $3;
EXECUTE q('abc', '2024-01-01', '2024-01-02');
EXECUTE q('abc', '2024-01-03', '2024-01-03');
EXECUTE q('xyz', '2024-01-01', '2024-01-01');
EXECUTE q('xyz', '2024-01-02', '2024-01-02');
EXECUTE q('abc', '2024-01-04', '2024-01-04');
EXECUTE q('abc', '2024-01-05', '2024-01-05');
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF, VERBOSE) EXECUTE q('abc', '2024-01-06', '2024-01-06');
EXECUTE q('abc', '2024-01-06', '2024-01-06');
EXECUTE q('xyz', '2024-03-01', '2024-03-02');
PREPARE qa(text[]) AS SELECT segment_id, size FROM segment_sizes WHERE segment_id = ANY ($1) AND time = '2024-01-01';
EXECUTE qa(ARRAY['abc', 'xyz']);
EXECUTE qa('{}');
RESET plan_cache_mode;
DEALLOCATE q;
DEALLOCATE qa;
SELECT * FROM standin.requests();

-- parameter columns: length and ending_at go to the API as given
CREATE FOREIGN TABLE series (segment_id text, time date, size bigint,
  length integer, ending_at timestamptz) SERVER braze;
SELECT standin.reset() \gset
SELECT * FROM series WHERE segment_id = 'abc' AND length = 3 AND ending_at = '2024-01-05 00:00:00+00';
SELECT * FROM series WHERE segment_id = 'abc' AND length = 3 AND ending_at = '2024-01-05 00:00:00+00' AND time > '2024-01-02';
SELECT count(*), min(time), max(time), min(length) FROM series
WHERE segment_id = 'abc' AND ending_at = '2024-01-05 23:59:59-05';
SELECT * FROM series WHERE segment_id = 'abc' AND length = 3 AND length = 4;
SELECT * FROM standin.requests();
-- ending_at goes in UTC, so the session's time zone does not change the days
SELECT standin.reset() \gset
SET TimeZone = 'America/Chicago';
SELECT time, size FROM series WHERE segment_id = 'abc' AND length = 2 AND ending_at = '2024-01-05 23:59:59-05';
RESET TimeZone;
SET TimeZone = 'UTC';
SELECT time, size FROM series WHERE segment_id = 'abc' AND length = 2 AND ending_at = '2024-01-05 23:59:59-05';
SELECT * FROM standin.requests();
SELECT * FROM series WHERE segment_id = 'abc' AND length = 101;
SELECT * FROM series WHERE segment_id = 'abc' AND length = 0;
-- without such conditions the table works as usual, the parameter columns NULL
SELECT * FROM series WHERE segment_id = 'abc' AND time = '2024-01-01';

DROP TABLE my_segments, events, tracked;
DROP SERVER braze CASCADE;
\i test/teardown.sql
