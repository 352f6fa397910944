--
-- errors: every failure is an ERROR with a precise message and SQLSTATE,
-- never a crash and never partial or empty results
--
\i test/setup.sql
\set SHOW_CONTEXT always

-- retries are off here: sql/retries.sql tests them
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

-- HTTP errors: status, the API's message, a hint
SELECT * FROM segment_sizes WHERE segment_id = 'http-400' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'http-404' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'http-500' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'http-503' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
-- a 502 from a proxy, with an HTML body: an excerpt goes into the detail
SELECT * FROM segment_sizes WHERE segment_id = 'html-502' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE

-- 401 and 403 from the key
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'wrong-key');
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-noperm');
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
ALTER USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (SET api_key 'regress-key');
-- a server that echoes the key in its message never makes it show
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key' AND time = '2024-01-01';

-- a url that is not the API's: the stand-in answers 404 for unknown paths
SELECT format('%s/v2', :'api_url') AS prefixed_url \gset
CREATE SERVER braze_wrongpath FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'prefixed_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_wrongpath OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE wrongpath (segment_id text, time date, size bigint) SERVER braze_wrongpath;
SELECT * FROM wrongpath WHERE segment_id = 'abc' AND time = '2024-01-01';

-- bodies that are not what the API promises
SELECT * FROM segment_sizes WHERE segment_id = 'message-error' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'not-json' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'truncated' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'trailing-garbage' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'nul-in-comment' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'not-object' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'data-missing' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'data-not-array' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'row-not-object' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'time-missing' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'time-not-string' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'bad-time' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'bad-time-format' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'size-float' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'size-string' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'size-null' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'size-missing' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'size-huge' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'size-negative' AND time = '2024-01-01';
-- a successful body must be UTF-8; in an error's message, NUL, control
-- characters and bytes that are not UTF-8 are escaped
SELECT * FROM segment_sizes WHERE segment_id = 'bad-time-bytes' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'message-bytes' AND time = '2024-01-01';
-- an empty series is not an error: no rows
SELECT * FROM segment_sizes WHERE segment_id = 'empty' AND time = '2024-01-01';

-- one failure among many requests fails the whole query, even after rows
-- were returned: no partial result
SELECT standin.reset() \gset
SELECT segment_id, count(*) FROM segment_sizes
WHERE segment_id IN ('abc', 'xyz', 'http-503', 'abd') AND time = '2024-01-01'
GROUP BY segment_id;
SELECT count(*) FROM (SELECT * FROM segment_sizes
  WHERE segment_id IN ('abc', 'xyz', 'http-503') AND time = '2024-01-01') s;
-- the table still works afterwards
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';

-- a body larger than max_response_bytes
ALTER SERVER braze OPTIONS (ADD max_response_bytes '4096');
SELECT count(*) FROM segment_sizes WHERE segment_id = 'rows-1000' AND time = '2000-01-01';
\echo :LAST_ERROR_SQLSTATE
-- also when the body has no length and never ends
SELECT count(*) FROM segment_sizes WHERE segment_id = 'endless' AND time = '2024-01-01';
ALTER SERVER braze OPTIONS (DROP max_response_bytes);
SELECT count(*) FROM segment_sizes WHERE segment_id = 'rows-1000' AND time = '2000-01-01';

-- a redirect is never followed (here: to a file: URL)
SELECT * FROM segment_sizes WHERE segment_id = 'redirect' AND time = '2024-01-01';

-- transport failures: nothing listening, a connection closed without an
-- answer, a slow answer, a body that stalls (terse: the detail says how
-- many milliseconds passed)
CREATE SERVER braze_closed FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url 'http://127.0.0.1:1', connect_timeout_ms '2000', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_closed OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE closed (segment_id text, time date, size bigint) SERVER braze_closed;
SELECT * FROM segment_sizes WHERE segment_id = 'reset' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT * FROM closed WHERE segment_id = 'abc' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
ALTER SERVER braze OPTIONS (ADD timeout_ms '300');
SELECT * FROM segment_sizes WHERE segment_id = 'slow-3000' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'stall-body' AND time = '2024-01-01';
\set VERBOSITY default
ALTER SERVER braze OPTIONS (DROP timeout_ms);

-- statement_timeout stops a slow request (SQLSTATE 57014)
SET statement_timeout = '300ms';
SELECT * FROM segment_sizes WHERE segment_id = 'slow-5000' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT * FROM segment_sizes WHERE segment_id = 'abc' AND time = '2024-01-02';

DROP SERVER braze CASCADE;
DROP SERVER braze_wrongpath CASCADE;
DROP SERVER braze_closed CASCADE;
\i test/teardown.sql
