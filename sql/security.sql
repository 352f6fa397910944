--
-- security: where the key lives, who can see it, and where it never shows
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
CREATE ROLE regress_analyst;
CREATE ROLE regress_other;
GRANT USAGE ON FOREIGN SERVER braze TO regress_analyst, regress_other;
GRANT SELECT ON segment_sizes TO regress_analyst, regress_other;
GRANT USAGE ON SCHEMA standin TO regress_analyst, regress_other;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA standin TO regress_analyst, regress_other;

-- a mapping FOR PUBLIC serves every role without one of its own
CREATE USER MAPPING FOR PUBLIC SERVER braze OPTIONS (api_key 'regress-key-public');
SET ROLE regress_analyst;
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
RESET ROLE;
-- a role's own mapping comes first
CREATE USER MAPPING FOR regress_analyst SERVER braze OPTIONS (api_key 'regress-key-analyst');
CREATE USER MAPPING FOR regress_other SERVER braze OPTIONS (api_key 'wrong-key-other');
SET ROLE regress_analyst;
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
RESET ROLE;
SET ROLE regress_other;
\set VERBOSITY terse
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
\set VERBOSITY default

-- a role sees its own key, not another's (PostgreSQL's rules)
SELECT usename, srvname, umoptions FROM pg_user_mappings WHERE srvname = 'braze' ORDER BY usename;
SELECT umoptions FROM pg_user_mapping;
RESET ROLE;
SET ROLE regress_analyst;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'braze' ORDER BY usename;
RESET ROLE;

-- a view runs with its owner's mapping
CREATE VIEW analyst_view AS SELECT * FROM segment_sizes WHERE segment_id = 'abc';
ALTER VIEW analyst_view OWNER TO regress_analyst;
GRANT SELECT ON analyst_view TO regress_other;
SET ROLE regress_other;
SELECT * FROM analyst_view WHERE time = '2024-01-02';
RESET ROLE;

-- the key never shows: not in EXPLAIN, not in pg_stat_activity, not in the
-- messages, also when the remote echoes it
CREATE FUNCTION lines_with_key(query text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  line text;
  n bigint := 0;
BEGIN
  FOR line IN EXECUTE query LOOP
    IF line LIKE '%regress-key%' THEN n := n + 1; END IF;
  END LOOP;
  RETURN n;
END $$;
SELECT lines_with_key($$EXPLAIN (ANALYZE, VERBOSE) SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01'$$);
SELECT lines_with_key($$EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01'$$);
SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%regress-key-%' AND pid <> pg_backend_pid();
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key' AND time = '2024-01-01';
-- the stand-in saw the keys in the header only, never in a URL
SELECT count(*) FILTER (WHERE l LIKE '%regress-key%') AS urls_with_key, count(*) AS requests
FROM standin.get('/__control/requests') l;
SELECT DISTINCT split_part(l, E'\t', 4) AS auth FROM standin.get('/__control/requests?ua=1') l;

DROP FUNCTION lines_with_key;
DROP VIEW analyst_view;
DROP SERVER braze CASCADE;
REVOKE ALL ON SCHEMA standin FROM regress_analyst, regress_other;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA standin FROM regress_analyst, regress_other;
DROP ROLE regress_analyst;
DROP ROLE regress_other;
\i test/teardown.sql
