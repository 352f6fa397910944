--
-- catalog: the segment catalog as tables (GET /segments/list and
-- /segments/details beside data_series), IMPORT FOREIGN SCHEMA, joins
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
-- a control request to the stand-in (catalog size, faults per list page)
CREATE FUNCTION standin_set(query text) RETURNS void LANGUAGE sql AS $$
  SELECT count(*) FROM standin.get('/__control/set?' || query) $$;

--
-- IMPORT FOREIGN SCHEMA: a table per endpoint, LIMIT TO and EXCEPT
--
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
\d braze.segments
\d braze.segment_details
CREATE SCHEMA only_list;
IMPORT FOREIGN SCHEMA segments LIMIT TO (segments, other) FROM SERVER braze INTO only_list;
CREATE SCHEMA no_list;
IMPORT FOREIGN SCHEMA segments EXCEPT (segments) FROM SERVER braze INTO no_list;
SELECT foreign_table_schema, foreign_table_name, ftoptions
FROM information_schema.foreign_tables t
JOIN pg_foreign_table f ON f.ftrelid = (quote_ident(foreign_table_schema) || '.' || quote_ident(foreign_table_name))::regclass
WHERE foreign_table_schema IN ('braze', 'only_list', 'no_list') ORDER BY 1, 2;
DROP SCHEMA only_list, no_list CASCADE;
-- another remote schema
IMPORT FOREIGN SCHEMA campaigns FROM SERVER braze INTO braze;

--
-- options and columns of the new tables
--
CREATE FOREIGN TABLE bad (id text) SERVER braze OPTIONS (endpoint 'campaigns');
CREATE FOREIGN TABLE bad (id text) SERVER braze OPTIONS (endpoint 'list', segment_id 'cat-0001');
CREATE FOREIGN TABLE bad (id text, size bigint) SERVER braze OPTIONS (endpoint 'list');
SELECT * FROM bad;
DROP FOREIGN TABLE bad;
CREATE FOREIGN TABLE bad (segment_id text, created_at date) SERVER braze OPTIONS (endpoint 'details');
SELECT * FROM bad WHERE segment_id = 'cat-0001';
DROP FOREIGN TABLE bad;
CREATE FOREIGN TABLE bad (id text, tags varchar[]) SERVER braze OPTIONS (endpoint 'list');
SELECT * FROM bad;
DROP FOREIGN TABLE bad;
CREATE FOREIGN TABLE bad (segment text OPTIONS (column_name 'nonsense')) SERVER braze;
-- other names and types, mapped with column_name; a column subset
CREATE FOREIGN TABLE catalog_names (
  segment varchar(8) OPTIONS (column_name 'id'),
  label varchar(20) OPTIONS (column_name 'name'),
  tracked boolean OPTIONS (column_name 'analytics_tracking_enabled')
) SERVER braze OPTIONS (endpoint 'list');

--
-- segments (GET /segments/list): pages in order while they are full
--
SELECT standin.reset() \gset
SELECT count(*) AS listed, count(*) FILTER (WHERE name LIKE 'Trial%') AS trials,
       count(*) FILTER (WHERE 'vip' = ANY (tags)) AS vip,
       count(*) FILTER (WHERE tags = '{}') AS untagged,
       min(id), max(id)
FROM braze.segments;
SELECT * FROM standin.requests();
-- the rows as sent: UTF-8 names and tags, quotes, repeated names
SELECT * FROM braze.segments WHERE id IN ('cat-0001', 'cat-0003', 'cat-0009', 'cat-0010', 'cat-0011', 'cat-0017', 'cat-0027', 'cat-0084', 'cat-0209');
-- LIMIT stops asking pages once it has its rows
SELECT standin.reset() \gset
SELECT id FROM braze.segments LIMIT 2;
SELECT * FROM standin.requests();
-- archived segments are not listed
SELECT count(*) FROM braze.segments WHERE id IN ('cat-0025', 'cat-0225');
-- the order of the API: oldest first, page after page
SELECT string_agg(segment, ',') FROM (SELECT segment FROM catalog_names LIMIT 5 OFFSET 98) s;
SELECT label, tracked FROM catalog_names WHERE segment = 'cat-0007';
-- a name longer than its varchar column is an error of the column's type
CREATE FOREIGN TABLE catalog_short (id text, name varchar(12)) SERVER braze OPTIONS (endpoint 'list');
SELECT * FROM catalog_short WHERE id = 'cat-0001';
DROP FOREIGN TABLE catalog_short;
-- 200 segments listed: two full pages, so page 2 is asked, and is empty
SELECT standin.reset() \gset
SELECT standin_set('catalog_listed=200');
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
-- 99: one page
SELECT standin.reset() \gset
SELECT standin_set('catalog_listed=99');
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
-- none at all
SELECT standin_set('catalog=0');
SELECT count(*) FROM braze.segments;
SELECT standin.reset() \gset

-- pages count in max_requests: the page beyond it is never asked
ALTER SERVER braze OPTIONS (ADD max_requests '2');
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
ALTER SERVER braze OPTIONS (SET max_requests '3');
SELECT standin.reset() \gset
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
-- the next page is decided on only when a row past a full page is asked
-- for: a LIMIT within page 0 asks page 0 alone, even with max_requests 1
ALTER SERVER braze OPTIONS (SET max_requests '1');
SELECT standin.reset() \gset
SELECT id FROM braze.segments LIMIT 3;
SELECT * FROM standin.requests();
SELECT count(*) FROM braze.segments;
ALTER SERVER braze OPTIONS (DROP max_requests);

-- a page that fails in a passing way is retried, like data_series
SELECT standin.reset() \gset
SELECT standin_set('list_fault_page=1&list_fault=http-503&list_fault_times=2');
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT standin_set('list_fault_page=1&list_fault=http-429&list_fault_times=1');
-- (the warning and hints of a 429 name times: left out)
SET client_min_messages = error;
\set VERBOSITY terse
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
-- errors: the query fails, no partial list
SELECT standin.reset() \gset
SELECT standin_set('list_fault_page=2&list_fault=ratelimit-hour');
SELECT count(*) FROM braze.segments;
\set VERBOSITY default
RESET client_min_messages;
SELECT standin_set('list_fault_page=2&list_fault=none');
SELECT standin_set('list_fault_page=1&list_fault=http-404');
SELECT count(*) FROM braze.segments;
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
SELECT standin_set('list_fault_page=0&list_fault=message-error');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=truncated');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=segments-missing');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=segments-not-array');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=segment-not-object');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=id-null');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=name-not-string');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=tracking-not-bool');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=tags-not-array');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=tag-not-string');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=not-json');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=message-bytes');
SELECT count(*) FROM braze.segments;
SELECT standin_set('list_fault_page=0&list_fault=echo-key');
SELECT count(*) FROM braze.segments;
SELECT standin.reset() \gset

--
-- segment_details (GET /segments/details): one request per distinct segment
--
SELECT * FROM braze.segment_details WHERE segment_id = 'cat-0001';
SELECT * FROM braze.segment_details
WHERE segment_id IN ('cat-0084', 'cat-0003', 'cat-0084', 'cat-0025') ORDER BY segment_id;
SELECT segment_id, name FROM braze.segment_details
WHERE segment_id = ANY (ARRAY['cat-0010', NULL, 'cat-0020']) ORDER BY 1;
SELECT * FROM standin.requests();
SELECT standin.reset() \gset
PREPARE details(text[]) AS
  SELECT segment_id, created_at, tags, teams FROM braze.segment_details
  WHERE segment_id = ANY ($1) ORDER BY 1;
EXECUTE details('{cat-0004,cat-0005}');
SELECT * FROM standin.requests();
DEALLOCATE details;
-- up to max_concurrency at a time
ALTER SERVER braze OPTIONS (ADD max_concurrency '3');
SELECT standin.reset() \gset
SELECT standin_set('latency_ms=200');
SELECT count(*) FROM braze.segment_details
WHERE segment_id = ANY (ARRAY(SELECT 'cat-' || lpad(i::text, 4, '0') FROM generate_series(1, 10) i));
SELECT split_part(standin.stats(), ' ', 1) AS sent, split_part(standin.stats(), ' ', 3) AS most;
SELECT standin.reset() \gset
ALTER SERVER braze OPTIONS (DROP max_concurrency);
-- the values of the API's own: null and empty descriptions, offsets, null
-- timestamps
SELECT segment_id, description IS NULL AS null_description, description = '' AS empty_description
FROM braze.segment_details WHERE segment_id IN ('cat-0005', 'cat-0006', 'cat-0007') ORDER BY 1;
SELECT segment_id, name, created_at FROM braze.segment_details
WHERE segment_id IN ('details-created-offset', 'details-created-null') ORDER BY 1;
-- a table pinned to one segment needs no condition
CREATE FOREIGN TABLE pinned_details (segment_id text, name text, teams text[])
  SERVER braze OPTIONS (endpoint 'details', segment_id 'cat-0004');
SELECT standin.reset() \gset
SELECT * FROM pinned_details;
SELECT * FROM standin.requests();
DROP FOREIGN TABLE pinned_details;
-- no condition on segment_id: the same error as data_series
SELECT * FROM braze.segment_details;
SELECT * FROM braze.segment_details WHERE name = 'Trial 0010';
-- an unknown segment is an error, like any HTTP error
SELECT * FROM braze.segment_details WHERE segment_id = 'cat-0231';
-- bodies of the wrong shape
SELECT * FROM braze.segment_details WHERE segment_id = 'details-bad-created';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-bad-updated';
-- words and times without a zone, which timestamptz would take, are not Braze's
SELECT * FROM braze.segment_details WHERE segment_id = 'details-created-zoneless';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-created-now';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-created-missing';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-missing-name';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-name-not-string';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-description-not-string';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-tags-not-array';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-tag-not-string';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-teams-not-array';
SELECT * FROM braze.segment_details WHERE segment_id = 'message-error';
SELECT * FROM braze.segment_details WHERE segment_id = 'details-huge';
-- retried like data_series
SELECT standin.reset() \gset
SELECT segment_id, name FROM braze.segment_details WHERE segment_id = 'flaky-2-503';
SELECT * FROM standin.requests();

--
-- a 403 names the permission the endpoint needs
--
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-key-nolist');
SELECT count(*) FROM braze.segments;
SELECT count(*) FROM braze.segment_details WHERE segment_id = 'cat-0001';
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-key-nodetails');
SELECT count(*) FROM braze.segment_details WHERE segment_id = 'cat-0001';
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-key-noseries');
SELECT count(*) FROM braze.data_series WHERE segment_id = 'cat-0001' AND time = '2024-01-01';
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-key');

--
-- joins: the segments side is filtered first, so only matching segments
-- are asked
--
-- the done-when query: the last 30 days of every trial segment
SET search_path = braze, public;
SELECT standin.reset() \gset
SELECT count(*) AS rows, count(DISTINCT name) AS segments,
       min(time) = current_date - 30 AS from_day, max(time) = current_date - 1 AS to_day
FROM (SELECT s.name, d.time, d.size FROM segments s JOIN data_series d ON d.segment_id = s.id
      WHERE s.name LIKE 'Trial%' AND d.time >= current_date - 30) q;
SELECT count(*) FILTER (WHERE r LIKE '/segments/list?%') AS pages,
       count(*) FILTER (WHERE r LIKE '/segments/data_series?%') AS series,
       count(*) AS requests
FROM standin.requests() r;
RESET search_path;
-- the same with fixed days: the rows (data_series named first, and its
-- columns first: the join clause then prints as (d.segment_id = s.id) on
-- every major, from 15 to 18, and no projection sits above the join)
SELECT standin.reset() \gset
SELECT d.time, d.size, s.name
FROM braze.data_series d JOIN braze.segments s ON d.segment_id = s.id
WHERE s.name LIKE 'Trial 00%' AND d.time >= '2024-01-01' AND d.time <= '2024-01-02'
ORDER BY s.name, d.time;
SELECT * FROM standin.requests();
EXPLAIN (VERBOSE, COSTS OFF)
SELECT d.time, d.size, s.name
FROM braze.data_series d JOIN braze.segments s ON d.segment_id = s.id
WHERE s.name LIKE 'Trial 00%' AND d.time >= '2024-01-01' AND d.time <= '2024-01-02';
-- segments and segment_details, with filters on both sides
SELECT standin.reset() \gset
SELECT g.id, g.tags, t.teams, t.created_at
FROM braze.segments g JOIN braze.segment_details t ON t.segment_id = g.id
WHERE g.name LIKE 'Trial%' AND 'vip' = ANY (g.tags) AND t.created_at < '2020-06-01'
ORDER BY 1;
SELECT * FROM standin.requests();
-- all three
SELECT standin.reset() \gset
SELECT g.id, t.updated_at, d.time, d.size
FROM braze.segments g
JOIN braze.segment_details t ON t.segment_id = g.id
JOIN braze.data_series d ON d.segment_id = g.id
WHERE g.name LIKE 'Trial%' AND 'beta' = ANY (g.tags) AND d.time = '2024-01-01'
ORDER BY 1;
SELECT * FROM standin.requests();
-- left joins: segments without a matching row keep theirs, with NULLs
SELECT standin.reset() \gset
SELECT g.id, d.time, d.size
FROM braze.segments g
LEFT JOIN braze.data_series d ON d.segment_id = g.id AND d.time = '2024-01-01' AND d.size > 15162
WHERE g.name LIKE 'Trial 00%'
ORDER BY 1;
SELECT g.id, t.description
FROM braze.segments g LEFT JOIN braze.segment_details t
  ON t.segment_id = g.id AND t.description IS NOT NULL
WHERE g.id IN ('cat-0001', 'cat-0002', 'cat-0005')
ORDER BY 1;
SELECT count(*) FILTER (WHERE r LIKE '/segments/list?%') AS pages,
       count(*) FILTER (WHERE r LIKE '/segments/data_series?%') AS series,
       count(*) FILTER (WHERE r LIKE '/segments/details?%') AS details
FROM standin.requests() r;
-- one scan for many segments: = ANY (ARRAY(SELECT ...)) sends them together
SELECT standin.reset() \gset
SELECT count(*), sum(size) FROM braze.data_series
WHERE segment_id = ANY (ARRAY(SELECT id FROM braze.segments WHERE name LIKE 'Trial%'))
  AND time = '2024-01-01';
SELECT split_part(standin.stats(), ' ', 1) AS sent;

-- a list scan run again (lateral): its pages are reused, not asked again
SELECT standin.reset() \gset
SELECT x, (SELECT count(*) FROM braze.segments s WHERE length(s.name) > x) AS longer
FROM (VALUES (12), (15)) v(x);
SELECT * FROM standin.requests();

--
-- EXPLAIN
--
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM braze.segments;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM braze.segment_details WHERE segment_id IN ('cat-0001', 'cat-0002');
SELECT standin.reset() \gset
SELECT * FROM standin.explain_braze('SELECT * FROM braze.segments');
SELECT * FROM standin.explain_braze($$SELECT * FROM braze.segment_details WHERE segment_id IN ('cat-0001', 'cat-0002')$$);

DROP FUNCTION standin_set;
DROP SCHEMA braze CASCADE;
DROP SERVER braze CASCADE;
\i test/teardown.sql

-- in a LATIN1 database: accented text is converted; a name LATIN1 cannot
-- hold (an emoji) is PostgreSQL's conversion error, not an altered name
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_segment_catalog_latin1;
CREATE DATABASE regress_segment_catalog_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
RESET client_min_messages;
\c regress_segment_catalog_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION segment_fdw;
\i test/setup.sql
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_details (segment_id text, name text, tags text[], teams text[])
  SERVER braze OPTIONS (endpoint 'details');
SELECT * FROM segment_details WHERE segment_id IN ('cat-0011', 'cat-0014') ORDER BY 1;
SELECT * FROM segment_details WHERE segment_id = 'cat-0003';
DROP SERVER braze CASCADE;
\i test/teardown.sql
\c :regress_db
DROP DATABASE regress_segment_catalog_latin1;
