--
-- cron: the README's daily job, run by a real pg_cron: segment_fdw_sync
-- keeps a history table; a run that finds nothing new writes no row, and a
-- size Braze revised is updated
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
-- README "Keeping history in a table": the workspace's tables, the history
-- table, and the daily job, here every minute over 3 listed segments
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
SELECT * FROM standin.get('/__control/set?catalog_listed=3');
CREATE TABLE segment_history (
  segment_id text,
  time date,
  size bigint NOT NULL,
  PRIMARY KEY (segment_id, time)
);
-- the job's days in UTC, as this session's (and the stand-in's); and not in
-- the last minutes of a day, when "the last week" would gain a day between
-- two runs
SELECT current_database() AS regress_db,
       current_setting('cron.database_name') AS cron_db \gset
ALTER DATABASE :"regress_db" SET TimeZone = 'UTC';
DO $$ BEGIN
  WHILE (clock_timestamp() AT TIME ZONE 'UTC')::time > '23:55' LOOP PERFORM pg_sleep(1); END LOOP;
END $$;
-- the first run, here: the last week of the 3 segments
SELECT * FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series', current_date - 7);
SELECT count(*) AS rows, count(DISTINCT segment_id) AS segments, max(time) = current_date - 1 AS up_to_yesterday
FROM segment_history;
CREATE TABLE versions AS SELECT xmin::text AS version, * FROM segment_history;

-- the next runs are the README's job, run by pg_cron (which lives in
-- cron.database_name) in this database, every minute, as this user
SELECT standin.reset() \gset
SELECT * FROM standin.get('/__control/set?catalog_listed=3');
\c :cron_db
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SELECT cron.schedule_in_database('regress-segment-history', '* * * * *',
  $$SELECT * FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series', current_date - 7)$$,
  :'regress_db') AS jobid \gset
-- wait for a run of the job that started at or after a time to end (pg_cron
-- runs it at the next minute), and for none to be going on
CREATE FUNCTION regress_wait_for_run(job bigint, since timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN EXISTS (SELECT FROM cron.job_run_details
                      WHERE jobid = job AND start_time >= since
                        AND status IN ('succeeded', 'failed'))
          AND NOT EXISTS (SELECT FROM cron.job_run_details
                          WHERE jobid = job AND status NOT IN ('succeeded', 'failed'));
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
SELECT regress_wait_for_run(:jobid, '-infinity') \gset
SELECT cron.alter_job(:jobid, active := false);
SELECT regress_wait_for_run(:jobid, '-infinity') \gset
SELECT count(*) AS runs FROM cron.job_run_details WHERE jobid = :jobid \gset
SELECT DISTINCT status, return_message FROM cron.job_run_details WHERE jobid = :jobid;
\c :regress_db
SET TimeZone = 'UTC';
-- each run asked Braze (one list page, one request per segment), and none
-- wrote a row
SELECT DISTINCT regexp_replace(r, '&length=.*', '') AS requests FROM standin.requests() r ORDER BY 1;
SELECT count(*) = 4 * :runs AS four_requests_a_run FROM standin.requests();
SELECT count(*) AS rows_written
FROM segment_history h JOIN versions v USING (segment_id, time)
WHERE h.xmin::text <> v.version;
-- Braze revises a day's size: the next run updates that row, and only it
SELECT format('/__control/set?revise=cat-0002,%s,12345', to_char(current_date - 3, 'YYYY-MM-DD')) AS revise \gset
SELECT * FROM standin.get(:'revise');
\c :cron_db
SELECT now() AS revised \gset
SELECT cron.alter_job(:jobid, active := true);
SELECT regress_wait_for_run(:jobid, :'revised') \gset
SELECT cron.unschedule(:jobid);
SELECT DISTINCT status, return_message FROM cron.job_run_details
WHERE jobid = :jobid AND start_time >= :'revised';
DROP FUNCTION regress_wait_for_run;
DROP EXTENSION pg_cron;
\c :regress_db
SET TimeZone = 'UTC';
SELECT h.segment_id, h.time = current_date - 3 AS three_days_ago, v.size AS was, h.size AS now
FROM segment_history h JOIN versions v USING (segment_id, time)
WHERE h.xmin::text <> v.version;

ALTER DATABASE :"regress_db" RESET TimeZone;
DROP TABLE segment_history, versions;
DROP SCHEMA braze CASCADE;
DROP SERVER braze CASCADE;
\else
\echo 'cron: skipped: this server does not load pg_cron with cron.use_background_workers = on'
\endif
\i test/teardown.sql
