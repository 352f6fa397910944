--
-- cron: a materialized view of segment sizes refreshed by a real pg_cron job
--
-- pg_cron must be loaded by the server (shared_preload_libraries) and run
-- its jobs in background workers; where it is not, the suite says why and
-- skips the job (expected/cron_1.out).  test/run starts such a server; the
-- matrix's 17 and 18 servers have no pg_cron.
--
\i test/setup.sql

SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron')
       AND current_setting('shared_preload_libraries') ~ '(^|[\s,])"?pg_cron"?($|[\s,])'
       AND current_setting('cron.use_background_workers', true) = 'on'
  AS have_pg_cron \gset
\if :have_pg_cron
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
CREATE TABLE tracked_segments (segment_id text PRIMARY KEY);
INSERT INTO tracked_segments VALUES ('seg-1'), ('seg-2'), ('abc');
CREATE MATERIALIZED VIEW segment_history AS
  SELECT s.segment_id, s.time, s.size
  FROM tracked_segments t JOIN segment_sizes s ON s.segment_id = t.segment_id
  WHERE s.time >= '2024-01-01' AND s.time < '2024-04-01';
CREATE UNIQUE INDEX ON segment_history (segment_id, time);
SELECT count(*), count(DISTINCT segment_id) FROM segment_history;

-- the refresh as a job of pg_cron (which lives in cron.database_name); the
-- job runs in this database, every minute, as this user
SELECT current_database() AS regress_db,
       current_setting('cron.database_name') AS cron_db \gset
SELECT standin.reset() \gset
\c :cron_db
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
-- one request per segment: the job really asked Braze
SELECT count(*) AS requests_of_the_cron_refresh FROM standin.requests();

DROP MATERIALIZED VIEW segment_history;
DROP TABLE tracked_segments;
DROP SERVER braze CASCADE;
\else
\echo 'cron: skipped: this server does not load pg_cron with cron.use_background_workers = on'
\endif
\i test/teardown.sql
