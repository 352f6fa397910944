--
-- boundaries: what a role other than a superuser may make a server do,
-- how much remote text an error shows, and the bytes sent to and received
-- from Braze, in a LATIN1 database
--
-- pg_regress's database has the cluster's encoding: this suite makes its own
SELECT current_database() AS regress_db \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_segment_latin1;
CREATE DATABASE regress_segment_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
RESET client_min_messages;
\c regress_segment_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION segment_fdw;
\i test/setup.sql
SHOW server_encoding;

CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;

-- segment ids are sent as UTF-8: 'café' is caf%C3%A9, not caf%E9; the size
-- the stand-in computes from the UTF-8 bytes (day 1461 * 10 + 416)
SELECT * FROM segment_sizes WHERE segment_id = 'café' AND time = '2024-01-01';
SELECT * FROM standin.requests();
SELECT standin.reset();
-- EXPLAIN shows the request as sent
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM segment_sizes WHERE segment_id = 'naïve' AND time = '2024-01-01';

-- text from Braze is UTF-8: converted to LATIN1 where it can be, escaped
-- where it cannot
SELECT * FROM segment_sizes WHERE segment_id = 'utf8-message' AND time = '2024-01-01';
-- a body that is not UTF-8 is refused, wherever the bad byte is
SELECT * FROM segment_sizes WHERE segment_id = 'bad-utf8' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
-- control characters and bytes that are not UTF-8 are escaped
SELECT * FROM segment_sizes WHERE segment_id = 'message-bytes' AND time = '2024-01-01';

-- the key is masked before the excerpt is cut: an echo that crosses the
-- 200-byte edge shows no character of it
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key-at-190' AND time = '2024-01-01';
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key-at-195' AND time = '2024-01-01';
-- one that starts after the edge is not shown at all
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key-at-200' AND time = '2024-01-01';
-- a first echo, masked to 8 characters, brings the start of a second one
-- into the excerpt: that one is masked too
SELECT * FROM segment_sizes WHERE segment_id = 'echo-key-twice-190' AND time = '2024-01-01';
-- the API's message is cut after 1,000 bytes
SELECT * FROM segment_sizes WHERE segment_id = 'long-message-5000' AND time = '2024-01-01';
-- a body over 64 kB is never parsed as one tree: the excerpt instead
SELECT * FROM segment_sizes WHERE segment_id = 'long-message-100000' AND time = '2024-01-01';

-- bodies over 64 kB that are not a success: the first problem, found
-- without a tree of the body
SELECT * FROM segment_sizes WHERE segment_id = 'bad-tail-100000' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment_sizes WHERE segment_id = 'big-member-100000' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
-- a member or row over 64 kB is refused in a small body as well
SELECT * FROM segment_sizes WHERE segment_id = 'big-member-65600' AND time = '2024-01-01';
-- a large body of good rows is read (rows of 60 kB each)
CREATE FOREIGN TABLE heavy (segment_id text, time date, size bigint, length int) SERVER braze;
SELECT count(*), min(time), max(time), sum(size) FROM heavy WHERE segment_id = 'heavy-rows-1000000' AND length = 100;
SELECT * FROM standin.requests();
SELECT standin.reset();

-- a role with USAGE on the wrapper may point a server at Braze only
CREATE ROLE regress_server_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER segment_fdw TO regress_server_owner;
GRANT CREATE ON SCHEMA public TO regress_server_owner;
SET ROLE regress_server_owner;
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'http://127.0.0.1:8080');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://[::1]/');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://2130706433/');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://0x7f.1/');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://%31%32%37.0.0.1/');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'http://rest.iad-01.braze.com');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com:8443');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com/internal');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com.example.net');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.braze.com');
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://metadata.iad-01.braze.com');
-- and keep its memory bounded
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '17');
\echo :LAST_ERROR_SQLSTATE
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', max_response_bytes '8388609');
-- within the rules
CREATE SERVER mine FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url 'https://rest.iad-01.braze.com', max_concurrency '16', max_response_bytes '8388608');
CREATE SERVER mine_eu FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://REST.FRA-02.BRAZE.EU/');
-- curl decodes a host written with percent signs: this one is Braze's
CREATE SERVER mine_encoded FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest%2eiad-01.braze.com');
CREATE SERVER mine_port FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.au-01.braze.com:443');
ALTER SERVER mine OPTIONS (SET max_concurrency '64');
-- the setting that allows more is a superuser's
SET segment_fdw.allowed_urls = 'http://127.0.0.1';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET segment_fdw.allowed_urls = 'gopher://127.0.0.1';
SET segment_fdw.allowed_urls = :'api_url';
SET ROLE regress_server_owner;
-- now the stand-in is allowed, with any path below it
CREATE SERVER mine_standin FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url');
SELECT format('%s/v2/', :'api_url') AS v2_url, format('%sv2', :'api_url') AS glued_url \gset
CREATE SERVER mine_v2 FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'v2_url');
-- but not another port of the same host
CREATE SERVER mine_other FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'http://127.0.0.1:1');
-- below a base with a path, a path with a percent sign is refused: a
-- server may decode /v2/%2e%2e/admin to /admin
RESET ROLE;
SET segment_fdw.allowed_urls = :'v2_url';
SET ROLE regress_server_owner;
SELECT format('%s/v2/%%2e%%2e/admin', :'api_url') AS dotdot_url,
       format('%s/v2/x', :'api_url') AS below_url \gset
CREATE SERVER mine_dotdot FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'dotdot_url');
CREATE SERVER mine_below FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'below_url');
DROP SERVER mine_below;
RESET ROLE;
SET segment_fdw.allowed_urls = :'api_url';
SET ROLE regress_server_owner;
CREATE USER MAPPING FOR CURRENT_USER SERVER mine_standin OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE mine_sizes (segment_id text, time date, size bigint) SERVER mine_standin;
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
RESET ROLE;
-- the setting is read at each use: without it, the server stops working
RESET segment_fdw.allowed_urls;
SET ROLE regress_server_owner;
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nor does it work for a superuser, whose queries use its owner's rights
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
-- a superuser's server given away is checked against its new owner
ALTER SERVER mine_standin OWNER TO CURRENT_USER;
CREATE USER MAPPING FOR CURRENT_USER SERVER mine_standin OPTIONS (api_key 'regress-key');
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
ALTER SERVER mine_standin OPTIONS (ADD max_concurrency '64', max_response_bytes '2147483647');
ALTER SERVER mine_standin OWNER TO regress_server_owner;
SET segment_fdw.allowed_urls = :'api_url';
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
ALTER SERVER mine_standin OPTIONS (SET max_concurrency '16');
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
ALTER SERVER mine_standin OPTIONS (SET max_response_bytes '8388608');
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
-- ca_file and proxy are a superuser's alone: a server given away with them
-- may not use them
RESET segment_fdw.allowed_urls;
ALTER SERVER mine_standin OWNER TO CURRENT_USER;
ALTER SERVER mine_standin OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
ALTER SERVER mine_standin OWNER TO regress_server_owner;
SET segment_fdw.allowed_urls = :'api_url';
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
RESET segment_fdw.allowed_urls;
ALTER SERVER mine_standin OWNER TO CURRENT_USER;
ALTER SERVER mine_standin OPTIONS (DROP ca_file, ADD proxy 'http://127.0.0.1:9');
ALTER SERVER mine_standin OWNER TO regress_server_owner;
SET segment_fdw.allowed_urls = :'api_url';
SELECT * FROM mine_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
-- nor can its owner set them
SET ROLE regress_server_owner;
ALTER SERVER mine_standin OPTIONS (DROP proxy);
ALTER SERVER mine_standin OPTIONS (ADD proxy 'http://127.0.0.1:9');
ALTER SERVER mine_standin OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
RESET ROLE;
RESET segment_fdw.allowed_urls;
-- the stand-in saw exactly the three queries that ran
SELECT * FROM standin.requests();

-- proxy: the postmaster's environment names one that never answers
-- (test/common.sh), which no request uses; a superuser's server goes through
-- the one it names, here the stand-in, asked in a proxy's absolute form for
-- a url that never answers a connection
\getenv blackhole_url SEGMENT_FDW_TEST_BLACKHOLE_URL
CREATE SERVER via_proxy FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url :'blackhole_url', proxy :'api_url', max_retries '0', connect_timeout_ms '200');
CREATE USER MAPPING FOR CURRENT_USER SERVER via_proxy OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE proxied_sizes (segment_id text, time date, size bigint) SERVER via_proxy;
SELECT standin.reset() \gset
SELECT * FROM proxied_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
SELECT substring(standin.stats() FROM 'proxied=.*') AS proxied;
SELECT * FROM standin.requests();
ALTER SERVER via_proxy OPTIONS (DROP proxy);
\set VERBOSITY terse
SELECT * FROM proxied_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
\set VERBOSITY default
-- a proxy is an absolute URL of a scheme libcurl speaks to proxies, without
-- credentials
ALTER SERVER via_proxy OPTIONS (ADD proxy 'ftp://127.0.0.1:21');
ALTER SERVER via_proxy OPTIONS (ADD proxy 'http://user:secret@127.0.0.1:3128');
ALTER SERVER via_proxy OPTIONS (ADD proxy '127.0.0.1:3128');
ALTER SERVER via_proxy OPTIONS (ADD proxy 'socks5h://127.0.0.1:1080');
DROP SERVER via_proxy CASCADE;

DROP SERVER mine CASCADE;
DROP SERVER mine_eu;
DROP SERVER mine_encoded;
DROP SERVER mine_port;
DROP SERVER mine_standin CASCADE;
DROP SERVER mine_v2;
REVOKE ALL ON SCHEMA public FROM regress_server_owner;
REVOKE USAGE ON FOREIGN DATA WRAPPER segment_fdw FROM regress_server_owner;
DROP ROLE regress_server_owner;
DROP SERVER braze CASCADE;
\i test/teardown.sql

-- in a SQL_ASCII database, an id that is not UTF-8 cannot be sent: it is
-- refused before the request of any segment goes out
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_segment_ascii;
CREATE DATABASE regress_segment_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'
  TEMPLATE template0;
RESET client_min_messages;
\c regress_segment_ascii
SET client_encoding = 'SQL_ASCII';
CREATE EXTENSION segment_fdw;
\i test/setup.sql
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'api_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE segment_sizes (segment_id text, time date, size bigint) SERVER braze;
SELECT standin.reset();
SELECT * FROM segment_sizes WHERE segment_id IN ('abc', E'caf\xe9') AND time = '2024-01-01';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM standin.requests();
DROP SERVER braze CASCADE;
\i test/teardown.sql
\c :regress_db
DROP DATABASE regress_segment_latin1;
DROP DATABASE regress_segment_ascii;
