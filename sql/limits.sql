--
-- limits: how many requests one query may send, days in order and each
-- once, and values Braze cannot take refused before any request
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

--
-- the cap on requests per run of a scan (max_requests, default 5000)
--
-- a year typed 0024 for 2024: 7454 requests for one segment, refused
-- before any is sent
SELECT count(*) FROM segment_sizes
WHERE segment_id = 'abc' AND time >= '0024-01-01' AND time < '2024-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS sent;
-- EXPLAIN ANALYZE runs the scan: refused the same way
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time >= '0024-01-01' AND time < '2024-01-01';
-- plain EXPLAIN never fails on the cap: the count, five requests, the rest
-- counted (50 segments over 2000 years: 372,700 requests, none built but five)
CREATE FUNCTION braze_lines(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || query LOOP
    IF btrim(l) LIKE 'Braze Request%' THEN
      RETURN NEXT btrim(l);
    END IF;
  END LOOP;
END $$;
SELECT braze_lines(format('SELECT * FROM segment_sizes WHERE segment_id = ANY (%L::text[])
                           AND time >= %L AND time < %L',
                          ARRAY(SELECT 'seg-' || i FROM generate_series(1, 50) i),
                          '0024-01-01', '2024-01-01'));
-- the same in the other formats
CREATE FUNCTION braze_json(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || query INTO plan;
  RETURN NEXT 'count: ' || (plan->0->'Plan'->>'Braze Request Count');
  RETURN QUERY SELECT json_array_elements_text(plan->0->'Plan'->'Braze Requests');
END $$;
SELECT braze_json($$SELECT * FROM segment_sizes WHERE segment_id IN ('abc', 'xyz')
                    AND time >= '0024-01-01' AND time < '2024-01-01'$$);
CREATE FUNCTION braze_yaml(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  plan text;
BEGIN
  EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT YAML) ' || query INTO plan;
  RETURN QUERY SELECT btrim(l)
    FROM regexp_split_to_table(substring(plan FROM 'Braze Request Count:.*$'), E'\n') l;
END $$;
SELECT braze_yaml($$SELECT * FROM segment_sizes WHERE segment_id IN ('abc', 'xyz')
                    AND time >= '2023-01-01' AND time < '2024-01-01'$$);
-- six requests are all shown
SELECT braze_lines($$SELECT * FROM segment_sizes WHERE segment_id IN ('abc', 'xyz')
                     AND time >= '2023-06-01' AND time < '2024-03-01'$$);
SELECT split_part(standin.stats(), ' ', 1) AS sent;

-- at the cap: sent; one over it: refused, nothing sent
ALTER SERVER braze OPTIONS (ADD max_requests '4');
SELECT count(*), min(time), max(time) FROM segment_sizes
WHERE segment_id = 'abc' AND time >= '2024-01-01' AND time < '2025-01-01';
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT count(*) FROM segment_sizes
WHERE segment_id IN ('abc', 'xyz') AND time >= '2024-01-01' AND time < '2025-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS sent;
-- the cap counts the requests of each run: a nested loop runs the scan once
-- per outer row, so three segments of 4 requests each pass one by one ...
CREATE TABLE three (segment_id text);
INSERT INTO three VALUES ('abc'), ('xyz'), ('def');
ANALYZE three;
SET segment_fdw.batch_joins = off;
SELECT t.segment_id, count(*) FROM three t JOIN segment_sizes s USING (segment_id)
WHERE s.time >= '2024-01-01' AND s.time < '2025-01-01'
GROUP BY 1 ORDER BY 1;
SELECT split_part(standin.stats(), ' ', 1) AS sent;
RESET segment_fdw.batch_joins;
-- ... while a batched join runs it once, over the whole join: 12, refused
SELECT standin.reset() \gset
SELECT t.segment_id, count(*) FROM three t JOIN segment_sizes s USING (segment_id)
WHERE s.time >= '2024-01-01' AND s.time < '2025-01-01'
GROUP BY 1 ORDER BY 1;
SELECT split_part(standin.stats(), ' ', 1) AS sent;
-- ... as one scan of all three would be
SELECT standin.reset() \gset
SELECT count(*) FROM segment_sizes
WHERE segment_id = ANY (ARRAY(SELECT segment_id FROM three))
  AND time >= '2024-01-01' AND time < '2025-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS sent;
-- parameter columns: one request per segment
CREATE FOREIGN TABLE series (segment_id text, time date, size bigint,
  length integer, ending_at timestamptz) SERVER braze;
SELECT count(*) FROM series
WHERE segment_id IN ('a', 'b', 'c', 'd', 'e') AND length = 2 AND ending_at = '2024-01-05 00:00:00+00';
ALTER SERVER braze OPTIONS (DROP max_requests);

-- time IN (...): windows that hold the days listed, not the days between
SELECT standin.reset() \gset
SELECT time, size FROM segment_sizes
WHERE segment_id = 'abc' AND time IN ('2024-06-01', '2024-01-03', '2024-01-01', '2023-01-01');
SELECT * FROM standin.requests();
-- a window holds at most 98 days: 2024-01-01 and 2024-04-07 share one,
-- 2024-04-08 starts the next
SELECT standin.reset() \gset
SELECT time, size FROM segment_sizes
WHERE segment_id = 'abc' AND time = ANY ('{2024-04-08,2024-01-01,2024-04-07}'::date[])
  AND time >= '2024-01-01';
SELECT * FROM standin.requests();
-- with a range: only listed days within it are asked
SELECT standin.reset() \gset
SELECT time, size FROM segment_sizes
WHERE segment_id = 'abc' AND time IN ('2024-01-01', '2024-03-01', '2024-09-01')
  AND time BETWEEN '2024-02-01' AND '2024-12-31';
SELECT * FROM standin.requests();

--
-- days: ascending and each once, whatever order the API used
--
SELECT standin.reset() \gset
SELECT time, size FROM segment_sizes
WHERE segment_id = 'days-descending' AND time BETWEEN '2024-01-01' AND '2024-01-05';
-- two windows, shuffled: the rows come in day order, each day once
SELECT count(*) AS days, count(DISTINCT time) AS distinct_days,
       min(time), max(time), bool_and(time = previous + 1) AS ascending
FROM (SELECT time, lag(time) OVER () AS previous FROM segment_sizes
      WHERE segment_id = 'days-shuffled' AND time >= '2024-01-01' AND time < '2024-05-01') x;
SELECT time, size FROM series
WHERE segment_id = 'days-descending' AND length = 3 AND ending_at = '2024-01-05 00:00:00+00';
-- a day that comes twice is an invalid response
SELECT time, size FROM segment_sizes
WHERE segment_id = 'days-repeated' AND time BETWEEN '2024-01-01' AND '2024-01-05';
SELECT * FROM standin.requests();

--
-- values Braze cannot take, refused before any request
--
SELECT standin.reset() \gset
-- a day before the year 1 as ending_at
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '0100-01-01 BC';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time < '0001-01-01';
SELECT count(*) AS requests FROM standin.requests();
-- only values sent count: 0001-12-30 BC is asked with ending_at 0001-01-01
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '0001-12-30 BC';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '0001-01-01';
SELECT * FROM standin.requests();
-- ending_at: infinite, or out of the years 1 to 9999
SELECT standin.reset() \gset
SELECT * FROM series WHERE segment_id = 'abc' AND ending_at = 'infinity';
SELECT * FROM series WHERE segment_id = 'abc' AND ending_at = '-infinity' AND length = 3;
SELECT * FROM series WHERE segment_id = 'abc' AND ending_at = '0100-01-03 00:00:00+00 BC';
SELECT * FROM series WHERE segment_id = 'abc' AND ending_at = '10000-01-01 00:00:00+00';
-- a query that sends nothing refuses nothing
SELECT * FROM series WHERE segment_id = 'abc' AND ending_at = 'infinity' AND length = 3 AND length = 4;
SELECT count(*) AS requests FROM standin.requests();
-- segment_id: at most 1024 bytes of UTF-8
SELECT count(*) FROM segment_sizes WHERE segment_id = repeat('x', 1025) AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes WHERE segment_id = repeat('é', 513) AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes WHERE segment_id = repeat('y', 10000000) AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes
WHERE segment_id IN ('abc', repeat('z', 2000)) AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes
WHERE segment_id = repeat('z', 2000) AND time > '2024-01-02' AND time < '2024-01-01';
SELECT count(*) AS requests FROM standin.requests();
SELECT count(*) FROM segment_sizes WHERE segment_id = repeat('x', 1024) AND time = '2024-01-01';
SELECT count(*) FROM segment_sizes WHERE segment_id = repeat('é', 512) AND time = '2024-01-01';
SELECT length(r) AS target_length FROM standin.requests() r;

DROP FUNCTION braze_lines, braze_json, braze_yaml;
DROP TABLE three;
DROP SERVER braze CASCADE;
\i test/teardown.sql
