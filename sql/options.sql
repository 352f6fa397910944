--
-- options: the validator, required options, and the column mapping
--
\i test/setup.sql

-- unknown options, with the valid ones of each object in the hint
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (uri 'https://rest.iad-01.braze.com');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', api_key 'k');
ALTER FOREIGN DATA WRAPPER segment_fdw OPTIONS (ADD url 'https://rest.iad-01.braze.com');

-- url: absolute http(s), no credentials, query or fragment
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'ftp://rest.iad-01.braze.com');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'file:///etc/passwd');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'rest.iad-01.braze.com');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://user:secret@rest.iad-01.braze.com');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com/?a=b');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com/#top');

-- integer options and their ranges
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', timeout_ms '0');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', timeout_ms 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', connect_timeout_ms '3600001');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '65');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '0');
-- max_requests: 1 to 1000000 requests per run of a scan
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_requests '0');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_requests '1000001');
-- integers are decimal digits: no sign, space, hex, fractions or exponents
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '+8');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency ' 8');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '0x10');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '1.5');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', timeout_ms '1e3');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', timeout_ms '99999999999999999999');
-- an empty query or fragment, a scheme without its slashes
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com/?');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com/#');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https:/rest.iad-01.braze.com');
CREATE SERVER bad FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_response_bytes '100');

-- valid servers: a trailing slash and a path prefix are fine
CREATE SERVER braze_opts FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url 'https://rest.iad-01.braze.com/', timeout_ms '5000',
           connect_timeout_ms '1000', max_concurrency '4', max_response_bytes '65536');
ALTER SERVER braze_opts OPTIONS (SET url 'http://127.0.0.1:1/prefix');
ALTER SERVER braze_opts OPTIONS (SET max_concurrency '65');
ALTER SERVER braze_opts OPTIONS (ADD max_requests '1000000');
ALTER SERVER braze_opts OPTIONS (SET max_requests '1');

-- user mapping: api_key only there, and only header-safe characters
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (api_key E'abc\r\nX-Injected: 1');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (api_key 'two words');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (api_key '"quoted"');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (api_key '');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (url 'https://x.example');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_opts OPTIONS (api_key 'regress-key');

-- foreign table options
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint) SERVER braze_opts OPTIONS (default_days '0');
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint) SERVER braze_opts OPTIONS (default_days '101');
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint) SERVER braze_opts OPTIONS (segment_id '');
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint) SERVER braze_opts OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint OPTIONS (column_name 'sizes')) SERVER braze_opts;
CREATE FOREIGN TABLE bad (segment_id text, time date, size bigint OPTIONS (colname 'size')) SERVER braze_opts;
CREATE FOREIGN TABLE opts_sizes (
  segment_id varchar(64),
  day date OPTIONS (column_name 'time'),
  estimated_size bigint OPTIONS (column_name 'size')
) SERVER braze_opts OPTIONS (segment_id 'abc', default_days '7');

-- the column mapping is checked when a table is queried
CREATE FOREIGN TABLE cols_unknown (segment_id text, day date, size bigint) SERVER braze_opts;
SELECT * FROM cols_unknown WHERE segment_id = 'abc';
CREATE FOREIGN TABLE cols_type (segment_id text, time date, size text) SERVER braze_opts;
SELECT * FROM cols_type WHERE segment_id = 'abc';
CREATE FOREIGN TABLE cols_twice (segment_id text, time date, size bigint,
  other bigint OPTIONS (column_name 'size')) SERVER braze_opts;
SELECT * FROM cols_twice WHERE segment_id = 'abc';
CREATE FOREIGN TABLE cols_idtype (segment_id integer, time date, size bigint) SERVER braze_opts;
SELECT * FROM cols_idtype WHERE segment_id = 1;

-- required options are checked when a table is queried
CREATE SERVER braze_nourl FOREIGN DATA WRAPPER segment_fdw;
CREATE FOREIGN TABLE nourl (segment_id text, time date, size bigint) SERVER braze_nourl;
SELECT * FROM nourl WHERE segment_id = 'abc';
CREATE SERVER braze_nokey FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
CREATE FOREIGN TABLE nokey (segment_id text, time date, size bigint) SERVER braze_nokey;
-- core's error (its wording changed in 17, its SQLSTATE 42704 did not)
\set VERBOSITY sqlstate
SELECT * FROM nokey WHERE segment_id = 'abc';
\set VERBOSITY default
-- but a plain EXPLAIN needs no user mapping: it sends nothing
EXPLAIN (COSTS OFF) SELECT * FROM nokey WHERE segment_id = 'abc' AND time = '2024-01-01';
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_nokey;
SELECT * FROM nokey WHERE segment_id = 'abc';
-- none of this sent anything
SELECT * FROM standin.requests();

DROP SERVER braze_opts CASCADE;
DROP SERVER braze_nourl CASCADE;
DROP SERVER braze_nokey CASCADE;
\i test/teardown.sql
