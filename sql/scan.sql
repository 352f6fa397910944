--
-- scan: rows, types, windows and the requests that fetch them
--
\i test/setup.sql

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

-- the stand-in's sizes are (day - 2020-01-01) * 10 + (sum of the id's bytes) % 1000
SELECT * FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-05';
-- one request, one day of margin on each side (ending_at itself is excluded)
SELECT * FROM standin.requests();

-- every day exactly once, across windows: 366 days of 2024 take 4 requests
SELECT standin.reset() \gset
SELECT count(*) AS days, count(DISTINCT time) AS distinct_days,
       min(time), max(time),
       bool_and(size = (time - date '2020-01-01') * 10 + 294) AS sizes_right
FROM segment_sizes
WHERE segment_id = 'abc' AND time >= '2024-01-01' AND time < '2025-01-01';
SELECT * FROM standin.requests();

-- rows come in day order
SELECT time, lag(time) OVER () < time AS ascending FROM segment_sizes
WHERE segment_id = 'abc' AND time > '2023-12-29' AND time <= '2024-01-02';

-- one day; strict bounds
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-02-29';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time > '2024-02-27' AND time < '2024-03-01';
SELECT * FROM standin.requests();

-- a segment id that needs encoding arrives intact; the row carries it
SELECT standin.reset() \gset
SELECT segment_id, time, size FROM segment_sizes
WHERE segment_id = 'a&b=c d/é' AND time = '2024-01-01';
SELECT * FROM standin.get('/__control/requests?ua=1');

-- an empty range sends nothing
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time > '2024-01-05' AND time < '2024-01-03';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-05' AND time = '2024-01-06';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time < '-infinity';
SELECT * FROM segment_sizes WHERE segment_id = NULL AND time = '2024-01-05';
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = NULL;
SELECT count(*) AS requests FROM standin.requests();

-- no upper bound: up to the latest day the API has (yesterday, at the stand-in)
SELECT standin.reset() \gset
SELECT count(*), max(time) = current_date - 1 AS ends_yesterday
FROM segment_sizes WHERE segment_id = 'abc' AND time >= current_date - 3;
SELECT r = format('/segments/data_series?segment_id=abc&length=6&ending_at=%s', current_date + 2) AS request_right
FROM standin.requests() r;

-- an upper bound in the future is today's: the same request, and no
-- request at all for days that are all in the future
SELECT standin.reset() \gset
SELECT count(*), max(time) = current_date - 1 AS ends_yesterday
FROM segment_sizes WHERE segment_id = 'abc' AND time >= current_date - 3 AND time <= '9999-12-31';
SELECT r = format('/segments/data_series?segment_id=abc&length=6&ending_at=%s', current_date + 2) AS request_right
FROM standin.requests() r;
SELECT standin.reset() \gset
SELECT count(*), min(time) = current_date - 99 AS from_default_days
FROM segment_sizes WHERE segment_id = 'abc' AND time < current_date + 365;
SELECT count(*) FROM segment_sizes WHERE segment_id = 'abc' AND time > current_date;
SELECT count(*) AS requests FROM standin.requests();

-- no lower bound: default_days (100) back from the upper bound, in two requests
SELECT standin.reset() \gset
SELECT count(*), min(time), max(time) FROM segment_sizes
WHERE segment_id = 'abc' AND time <= '2024-04-09';
SELECT * FROM standin.requests();
ALTER FOREIGN TABLE segment_sizes OPTIONS (ADD default_days '7');
SELECT standin.reset() \gset
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time < '2024-01-08';
SELECT * FROM standin.requests();
ALTER FOREIGN TABLE segment_sizes OPTIONS (DROP default_days);

-- days before the segment existed come back as the API sends them (0)
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time BETWEEN '2019-12-30' AND '2020-01-02';

-- other conditions filter locally; stable expressions are computed at start
SELECT standin.reset() \gset
SELECT time, size FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-10' AND size % 20 = 4;
SELECT count(*) FROM segment_sizes
WHERE segment_id = 'abc' AND time BETWEEN current_date - 10 AND current_date - 1;
SELECT count(*) AS requests FROM standin.requests();

-- other column types and names, mapped with column_name
CREATE FOREIGN TABLE sizes_typed (
  id varchar(20) OPTIONS (column_name 'segment_id'),
  day timestamp OPTIONS (column_name 'time'),
  size numeric,
  day_tz timestamptz OPTIONS (column_name 'time')
) SERVER braze;
SELECT * FROM sizes_typed WHERE id = 'abc';
DROP FOREIGN TABLE sizes_typed;
CREATE FOREIGN TABLE sizes_typed (
  id varchar(20) OPTIONS (column_name 'segment_id'),
  day timestamp OPTIONS (column_name 'time'),
  size numeric
) SERVER braze;
SELECT * FROM sizes_typed WHERE id = 'abc' AND day >= '2024-01-01 12:00' AND day < '2024-01-04';
CREATE FOREIGN TABLE sizes_text (segment_id text, time text, size integer) SERVER braze;
SELECT * FROM sizes_text WHERE segment_id = 'abc' AND time BETWEEN '2024-01-30' AND '2024-02-02';
CREATE FOREIGN TABLE sizes_tz (segment_id text, time timestamptz, size smallint) SERVER braze;
SELECT * FROM sizes_tz WHERE segment_id = 'abc' AND time = '2020-01-02';
-- days and timestamps compared with a timestamptz are converted in the
-- session's time zone, which can move them to another day: Samoa skipped
-- 2011-12-30, so that day's row and the next are both at 2011-12-31
-- 00:00+14, and '2011-12-30 12:00' is 2011-12-31 12:00+14.  The rows are
-- those a local table would give.
SET TimeZone = 'Pacific/Apia';
SELECT * FROM sizes_tz WHERE segment_id = 'abc' AND time = '2011-12-31'::date;
SELECT * FROM sizes_tz WHERE segment_id = 'abc' AND time = '2011-12-31';
CREATE DOMAIN moment AS timestamptz;
CREATE FOREIGN TABLE sizes_domain (segment_id text, time moment, size bigint) SERVER braze;
SELECT * FROM sizes_domain WHERE segment_id = 'abc' AND time IN ('2011-12-31', '2012-01-01');
SELECT * FROM sizes_tz WHERE segment_id = 'abc'
  AND time >= '2011-12-29'::date AND time <= '2011-12-30 12:00'::timestamp;
CREATE TEMP TABLE local_tz AS
  SELECT * FROM sizes_tz WHERE segment_id = 'abc' AND time >= '2011-12-01' AND time < '2012-01-31';
SELECT (SELECT array_agg(time ORDER BY time) FROM local_tz
        WHERE time = '2011-12-31'::date) =
       (SELECT array_agg(time ORDER BY time) FROM sizes_tz
        WHERE segment_id = 'abc' AND time = '2011-12-31'::date) AS same_as_local;
RESET TimeZone;
-- a size too large for the column is reported with the request (rows-N:
-- sizes 0 .. N-1, one a day from 2000-01-01, whatever the days asked)
CREATE FOREIGN TABLE sizes_small (segment_id text, time date, size smallint, length integer)
  SERVER braze;
SELECT * FROM sizes_small
WHERE segment_id = 'rows-32768' AND length = 100 AND time = date '2000-01-01' + 32767;
SELECT * FROM sizes_small
WHERE segment_id = 'rows-32769' AND length = 100 AND time = date '2000-01-01' + 32768;
-- a table without segment_id, pinned to one segment
CREATE FOREIGN TABLE pinned (time date, size bigint) SERVER braze OPTIONS (segment_id 'abc');
SELECT standin.reset() \gset
SELECT * FROM pinned WHERE time BETWEEN '2024-01-01' AND '2024-01-02';
CREATE FOREIGN TABLE pinned_id (segment_id text, time date, size bigint) SERVER braze OPTIONS (segment_id 'abc');
SELECT * FROM pinned_id WHERE time = '2024-01-01';
-- a condition for another segment leaves nothing to ask
SELECT * FROM pinned_id WHERE time = '2024-01-01' AND segment_id = 'other';
SELECT * FROM standin.requests();

-- rows stream: a LIMIT stops after the first response
SELECT standin.reset() \gset
ALTER SERVER braze OPTIONS (ADD max_concurrency '1');
SELECT time FROM segment_sizes WHERE segment_id = 'abc' AND time >= '2023-01-01' AND time < '2024-01-01' LIMIT 2;
SELECT count(*) AS requests FROM standin.requests();
ALTER SERVER braze OPTIONS (DROP max_concurrency);

DROP SERVER braze CASCADE;
DROP DOMAIN moment;
\i test/teardown.sql
