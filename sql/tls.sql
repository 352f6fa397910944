--
-- tls: https with peer and host verification always on; ca_file
--
\i test/setup.sql
\getenv tls_url SEGMENT_FDW_TEST_TLS_URL
\getenv ca SEGMENT_FDW_TEST_CA
\getenv other_ca SEGMENT_FDW_TEST_OTHER_CA

-- the system's CAs do not know the test CA: the connection is refused
CREATE SERVER braze_tls FOREIGN DATA WRAPPER segment_fdw OPTIONS (url :'tls_url', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze_tls OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE tls_sizes (segment_id text, time date, size bigint) SERVER braze_tls;
SELECT * FROM tls_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
-- a CA that did not sign the server's certificate: refused too
ALTER SERVER braze_tls OPTIONS (ADD ca_file :'other_ca');
SELECT * FROM tls_sizes WHERE segment_id = 'abc' AND time = '2024-01-01';
-- the right CA
ALTER SERVER braze_tls OPTIONS (SET ca_file :'ca');
SELECT * FROM tls_sizes WHERE segment_id = 'abc' AND time BETWEEN '2024-01-01' AND '2024-01-02';
-- ca_file is an absolute path, and only superusers may set it
ALTER SERVER braze_tls OPTIONS (SET ca_file 'ca.crt');
CREATE ROLE regress_tls_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER segment_fdw TO regress_tls_owner;
ALTER SERVER braze_tls OWNER TO regress_tls_owner;
SET ROLE regress_tls_owner;
-- (its url, 127.0.0.1, is a superuser's too: so no option of it can change)
ALTER SERVER braze_tls OPTIONS (SET ca_file '/etc/ssl/certs/ca-certificates.crt');
ALTER SERVER braze_tls OPTIONS (DROP ca_file);
CREATE SERVER braze_mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com', ca_file '/etc/passwd');
-- nor can a server be pointed at anything but http(s)
CREATE SERVER braze_mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'file:///etc/passwd');
CREATE SERVER braze_mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'gopher://127.0.0.1:5432/');
CREATE SERVER braze_mine FOREIGN DATA WRAPPER segment_fdw OPTIONS (url 'https://rest.iad-01.braze.com');
RESET ROLE;

DROP SERVER braze_tls CASCADE;
DROP SERVER braze_mine;
REVOKE USAGE ON FOREIGN DATA WRAPPER segment_fdw FROM regress_tls_owner;
DROP ROLE regress_tls_owner;
\i test/teardown.sql
