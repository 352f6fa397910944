-- Included by every regression suite: session settings, the stand-in API's
-- URL, and functions that read what the stand-in received.
\set ECHO none
\getenv api_url SEGMENT_FDW_TEST_URL
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
CREATE SCHEMA IF NOT EXISTS standin;
-- the stand-in's base URL, for every session of the suite
SELECT format('CREATE OR REPLACE FUNCTION standin.url() RETURNS text LANGUAGE sql AS %L',
              format('SELECT %L::text', :'api_url')) \gexec
-- the lines of GET <stand-in>/<path>, in order
CREATE OR REPLACE FUNCTION standin.get(path text) RETURNS SETOF text
LANGUAGE plpgsql SET client_min_messages = warning AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS standin_out (n serial, line text);
  TRUNCATE standin_out;
  EXECUTE format('COPY standin_out (line) FROM PROGRAM %L WITH (DELIMITER E''\x01'')',
                 format('curl -sS --noproxy ''*'' -X %s ''%s%s''',
                        CASE WHEN path LIKE '%reset%' THEN 'POST' ELSE 'GET' END,
                        standin.url(), path));
  RETURN QUERY SELECT line FROM standin_out ORDER BY n;
END $$;
-- forget the requests received so far
CREATE OR REPLACE FUNCTION standin.reset() RETURNS void
LANGUAGE sql AS $$ SELECT count(*) FROM standin.get('/__control/reset') $$;
-- the request targets received since the last reset, sorted (concurrent
-- requests arrive in any order)
CREATE OR REPLACE FUNCTION standin.requests() RETURNS SETOF text
LANGUAGE sql AS $$ SELECT split_part(l, E'\t', 1) FROM standin.get('/__control/requests?sort=1') l $$;
-- "requests=N connections=N max_in_flight=N"
CREATE OR REPLACE FUNCTION standin.stats() RETURNS text
LANGUAGE sql AS $$ SELECT l FROM standin.get('/__control/stats') l $$;
-- the Braze lines of EXPLAIN (ANALYZE, VERBOSE) of a query: its requests and
-- their figures, without the plan lines whose form varies across majors
CREATE OR REPLACE FUNCTION standin.explain_braze(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query
  LOOP
    IF btrim(line) LIKE 'Braze %' THEN
      RETURN NEXT btrim(line);
    END IF;
  END LOOP;
END $$;
SELECT standin.reset() AS reset_done \gset
RESET client_min_messages;
\set ECHO all
