--
-- ecosystem: IMPORT FOREIGN SCHEMA, materialized views (pg_cron: see cron.sql)
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');

-- IMPORT FOREIGN SCHEMA: a table per endpoint (more in catalog.sql)
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
\d braze.data_series
IMPORT FOREIGN SCHEMA segments LIMIT TO (data_series) FROM SERVER braze INTO public;
IMPORT FOREIGN SCHEMA segments EXCEPT (data_series) FROM SERVER braze INTO public;
IMPORT FOREIGN SCHEMA segments LIMIT TO (other) FROM SERVER braze INTO public;
SELECT foreign_table_schema, foreign_table_name FROM information_schema.foreign_tables ORDER BY 1, 2;
IMPORT FOREIGN SCHEMA campaigns FROM SERVER braze INTO public;
DROP FOREIGN TABLE public.data_series;

-- a materialized view over many segments, refreshed concurrently
CREATE TABLE tracked_segments (segment_id text PRIMARY KEY);
INSERT INTO tracked_segments SELECT 'seg-' || i FROM generate_series(1, 20) i;
CREATE MATERIALIZED VIEW segment_history AS
  SELECT s.segment_id, s.time, s.size
  FROM tracked_segments t JOIN braze.data_series s ON s.segment_id = t.segment_id
  WHERE s.time >= '2024-01-01' AND s.time < '2024-04-01';
CREATE UNIQUE INDEX ON segment_history (segment_id, time);
SELECT count(*), count(DISTINCT segment_id), min(time), max(time) FROM segment_history;
SELECT standin.reset() \gset
INSERT INTO tracked_segments VALUES ('abc');
REFRESH MATERIALIZED VIEW CONCURRENTLY segment_history;
SELECT count(*), count(DISTINCT segment_id) FROM segment_history;
SELECT * FROM segment_history WHERE segment_id = 'abc' ORDER BY time LIMIT 2;
SELECT count(*) AS requests FROM standin.requests();
-- a failed refresh keeps the old contents: nothing half-written
INSERT INTO tracked_segments VALUES ('http-503');
REFRESH MATERIALIZED VIEW CONCURRENTLY segment_history;
SELECT count(*), count(DISTINCT segment_id) FROM segment_history;
DELETE FROM tracked_segments WHERE segment_id = 'http-503';

DROP MATERIALIZED VIEW segment_history;
DROP TABLE tracked_segments;
DROP SCHEMA braze CASCADE;
DROP SERVER braze CASCADE;
\i test/teardown.sql
