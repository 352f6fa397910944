--
-- ecosystem: IMPORT FOREIGN SCHEMA, materialized views, pg_cron
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');

-- IMPORT FOREIGN SCHEMA: the API's one table
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

-- the refresh as a pg_cron job (pg_cron runs in database postgres; the job
-- runs here, every minute, as this user)
SELECT current_database() AS regress_db \gset
SELECT standin.reset() \gset
\c postgres
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SELECT cron.schedule_in_database('regress_refresh_segments', '* * * * *',
  'REFRESH MATERIALIZED VIEW CONCURRENTLY segment_history', :'regress_db') > 0 AS scheduled;
-- wait for the first run (at the next minute)
DO $$
BEGIN
  FOR i IN 1..150 LOOP
    EXIT WHEN EXISTS (SELECT FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                      WHERE j.jobname = 'regress_refresh_segments' AND d.status IN ('succeeded', 'failed'));
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
SELECT d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'regress_refresh_segments' ORDER BY d.start_time LIMIT 1;
SELECT cron.unschedule('regress_refresh_segments');
DROP EXTENSION pg_cron;
\c :regress_db
SELECT count(*) AS requests_of_the_cron_refresh FROM standin.requests();

DROP MATERIALIZED VIEW segment_history;
DROP TABLE tracked_segments;
DROP SCHEMA braze CASCADE;
DROP SERVER braze CASCADE;
\i test/teardown.sql
