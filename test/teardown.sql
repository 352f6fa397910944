-- Included at the end of every regression suite.
\set ECHO none
SET client_min_messages = warning;
DROP SCHEMA standin CASCADE;
RESET client_min_messages;
\set ECHO all
