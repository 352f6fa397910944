/* segment_fdw--1.0--1.1.sql: what the backends share (issue 18) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION segment_fdw UPDATE TO '1.1'" to load this file. \quit

-- Statistics of the servers of this database, from shared memory
-- (segment_fdw in shared_preload_libraries; without it, an error says so)
CREATE FUNCTION segment_fdw_stats(
    OUT server name,
    OUT requests bigint,
    OUT retries bigint,
    OUT rate_limited bigint,
    OUT failed bigint,
    OUT bytes bigint,
    OUT cache_hits bigint,
    OUT in_flight integer,
    OUT waiting integer,
    OUT ratelimit_limit bigint,
    OUT ratelimit_remaining bigint,
    OUT ratelimit_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'segment_fdw_stats'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW segment_fdw_stats AS SELECT * FROM segment_fdw_stats();

-- Zero the counters of this database's servers
CREATE FUNCTION segment_fdw_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'segment_fdw_stats_reset'
LANGUAGE C STRICT VOLATILE;

-- Empty the cache of settled days: of one server (its owner or a
-- superuser), or all of it (a superuser); returns the windows dropped
CREATE FUNCTION segment_fdw_cache_reset(server name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segment_fdw_cache_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

REVOKE ALL ON FUNCTION segment_fdw_stats_reset() FROM PUBLIC;
