--
-- history: segment_fdw_sync() keeps the daily sizes of a set of segments in
-- an ordinary table: new days inserted, days whose size changed upstream
-- updated, nothing else written; one statement, so a failure writes nothing
--
\i test/setup.sql
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR PUBLIC SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
CREATE TABLE tracked (segment_id text PRIMARY KEY);
INSERT INTO tracked VALUES ('abc'), ('xyz'), ('seg-1');
CREATE TABLE segment_history (
  segment_id text,
  time date,
  size bigint NOT NULL,
  PRIMARY KEY (segment_id, time));

-- the first run: a quarter of three segments, one window each
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-03-31');
SELECT * FROM standin.requests();
SELECT segment_id, count(*), min(time), max(time), sum(size)
FROM segment_history GROUP BY segment_id ORDER BY segment_id;
-- the same rows as a scan of the foreign table
(SELECT * FROM segment_history
 EXCEPT ALL
 SELECT * FROM segment_sizes
 WHERE segment_id IN ('abc', 'xyz', 'seg-1') AND time BETWEEN '2024-01-01' AND '2024-03-31')
UNION ALL
(SELECT * FROM segment_sizes
 WHERE segment_id IN ('abc', 'xyz', 'seg-1') AND time BETWEEN '2024-01-01' AND '2024-03-31'
 EXCEPT ALL
 SELECT * FROM segment_history);

-- the second run writes no row: every row keeps its version (xmin)
CREATE TEMP TABLE before AS SELECT xmin::text AS version, * FROM segment_history;
SELECT standin.reset() \gset
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-03-31');
SELECT count(*) AS rows_written
FROM segment_history h JOIN before b USING (segment_id, time)
WHERE h.xmin::text <> b.version;
SELECT count(*) AS requests FROM standin.requests();

-- Braze revises two days: those two rows, and only they, are updated
SELECT * FROM standin.get('/__control/set?revise=abc,2024-02-10,7&revise=seg-1,2024-03-31,0');
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-03-31');
SELECT h.segment_id, h.time, b.size AS was, h.size AS now
FROM segment_history h JOIN before b USING (segment_id, time)
WHERE h.xmin::text <> b.version ORDER BY 1, 2;

-- an overlapping range: new days inserted, the days held left alone
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-03-29', '2024-04-02');
SELECT count(*) FROM segment_history WHERE time > '2024-03-31';

-- until left out: up to today (the stand-in has days up to yesterday); not
-- in the last seconds of a day in UTC, when the stand-in's day could change
-- after this session's
DO $$ BEGIN
  WHILE (clock_timestamp() AT TIME ZONE 'UTC')::time > '23:59:50' LOOP PERFORM pg_sleep(1); END LOOP;
END $$;
SELECT inserted = 3 * 3 AND updated = 0 AND unchanged = 0 AS last_three_days
FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', current_date - 3);
SELECT max(time) = current_date - 1 AS up_to_yesterday FROM segment_history;
DELETE FROM segment_history WHERE time > '2024-04-02';

-- the workspace: the segments table of IMPORT FOREIGN SCHEMA (column id):
-- the list pages, then one request per segment
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
SELECT standin.reset() \gset
SELECT * FROM standin.get('/__control/set?catalog_listed=3');
SELECT * FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series',
                               '2024-01-01', '2024-01-10');
SELECT * FROM standin.requests();
SELECT segment_id, count(*) FROM segment_history WHERE segment_id LIKE 'cat-%'
GROUP BY segment_id ORDER BY segment_id;
-- a segment no longer listed keeps its history
SELECT * FROM standin.get('/__control/set?catalog_listed=2');
SELECT * FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series',
                               '2024-01-01', '2024-01-10');
SELECT count(*) FROM segment_history WHERE segment_id = 'cat-0003';

-- a relation with both columns gives its segment_id; repeated ids are asked once
CREATE VIEW tracked_twice (id, segment_id) AS
  VALUES ('not-this', 'abc'), ('not-this', 'abc'), ('nor-this', 'xyz'), (NULL, NULL);
SELECT standin.reset() \gset
SELECT * FROM segment_fdw_sync('segment_history', 'tracked_twice', 'segment_sizes', '2024-04-03', '2024-04-04');
SELECT * FROM standin.requests();

-- a failure writes nothing: the whole call is one statement
INSERT INTO tracked VALUES ('http-503');
SELECT count(*) AS rows_before FROM segment_history;
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-05-01', '2024-05-02');
SELECT count(*) AS rows_after FROM segment_history;
DELETE FROM tracked WHERE segment_id = 'http-503';

-- max_requests bounds one call as it bounds one query, checked before any
-- request is sent, whatever plan a join would have had (errors from here on
-- without their CONTEXT, the statement, which the error above shows)
\set SHOW_CONTEXT never
ALTER SERVER braze OPTIONS (ADD max_requests '5');
SELECT standin.reset() \gset
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2023-01-01', '2023-12-31');
SET segment_fdw.batch_joins = off;
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2023-01-01', '2023-12-31');
RESET segment_fdw.batch_joins;
SELECT count(*) AS requests FROM standin.requests();
ALTER SERVER braze OPTIONS (DROP max_requests);

-- what it needs, and the errors that say so
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', NULL);
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-02-01', '2024-01-31');
CREATE TABLE no_ids (name text);
SELECT * FROM segment_fdw_sync('segment_history', 'no_ids', 'segment_sizes', '2024-01-01');
CREATE TABLE no_key (segment_id text, time date, size bigint);
SELECT * FROM segment_fdw_sync('no_key', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
CREATE UNIQUE INDEX ON no_key (segment_id, time) WHERE size > 0;
SELECT * FROM segment_fdw_sync('no_key', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
-- a day is a date: as a timestamptz it would be another value in each time zone
CREATE TABLE stamped (segment_id text, time timestamptz, size bigint, PRIMARY KEY (segment_id, time));
SELECT * FROM segment_fdw_sync('stamped', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'tracked', '2024-01-01');
SELECT * FROM segment_fdw_sync('tracked', 'tracked', 'segment_sizes', '2024-01-01');
SELECT * FROM segment_fdw_sync('no_such_table', 'tracked', 'segment_sizes', '2024-01-01');

-- it runs with the caller's privileges: SELECT on the segments and the
-- sizes, and SELECT, INSERT and UPDATE on the table
CREATE ROLE regress_history_reader;
GRANT SELECT ON tracked, segment_sizes TO regress_history_reader;
GRANT INSERT, UPDATE ON segment_history TO regress_history_reader;
SET ROLE regress_history_reader;
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
RESET ROLE;
REVOKE INSERT, UPDATE ON segment_history FROM regress_history_reader;
GRANT SELECT ON segment_history TO regress_history_reader;
SET ROLE regress_history_reader;
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
\set SHOW_CONTEXT errors
RESET ROLE;
GRANT INSERT, UPDATE ON segment_history TO regress_history_reader;
SET ROLE regress_history_reader;
SELECT * FROM segment_fdw_sync('segment_history', 'tracked', 'segment_sizes', '2024-01-01', '2024-01-02');
RESET ROLE;

DROP OWNED BY regress_history_reader;
DROP ROLE regress_history_reader;
DROP SCHEMA braze CASCADE;
DROP VIEW tracked_twice;
DROP TABLE tracked, segment_history, no_ids, no_key, stamped;
DROP SERVER braze CASCADE;
\i test/teardown.sql
