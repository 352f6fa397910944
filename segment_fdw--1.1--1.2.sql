/* segment_fdw--1.1--1.2.sql: history kept in an ordinary table (issue 19) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION segment_fdw UPDATE TO '1.2'" to load this file. \quit

-- Copy the daily sizes of a set of segments, from since to until (or today),
-- into a table of one's own: rows not there yet are inserted, rows whose
-- size Braze now gives otherwise are updated, and nothing else is written.
--
-- history:  a table with columns segment_id, time and size, and a primary
--           key or unique index on (segment_id, time)
-- segments: the segments to keep: a relation with a column segment_id, or
--           else id (the segments table of IMPORT FOREIGN SCHEMA)
-- sizes:    a data_series foreign table (columns segment_id, time, size)
--
-- It is one statement, an INSERT ... ON CONFLICT over the join of segments
-- with sizes (the batched join), so a failure writes nothing and
-- max_requests bounds one call as it bounds one query.  It runs with the
-- caller's privileges and keeps no state of its own.
CREATE FUNCTION segment_fdw_sync(
    history regclass,
    segments regclass,
    sizes regclass,
    since date,
    until date DEFAULT NULL,
    OUT inserted bigint,
    OUT updated bigint,
    OUT unchanged bigint)
RETURNS record
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $sync$
DECLARE
    id_column name;
    rel regclass;
    col name;
BEGIN
    IF history IS NULL OR segments IS NULL OR sizes IS NULL OR since IS NULL THEN
        RAISE EXCEPTION 'segment_fdw_sync needs history, segments, sizes and since'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    -- the columns it reads and writes, named as the error would name them
    FOR rel, col IN
        SELECT r, c FROM (VALUES (history), (sizes)) AS t(r),
                         unnest(ARRAY['segment_id', 'time', 'size']) AS c
    LOOP
        IF NOT EXISTS (SELECT FROM pg_attribute a
                       WHERE a.attrelid = rel AND a.attname = col
                         AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'relation "%" has no column "%"',
                    (SELECT c.relname FROM pg_class c WHERE c.oid = rel), col
                USING ERRCODE = 'undefined_column',
                      HINT = 'segment_fdw_sync reads and writes the columns segment_id, time and size.';
        END IF;
    END LOOP;
    SELECT a.attname INTO id_column
    FROM pg_attribute a
    WHERE a.attrelid = segments AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname IN ('segment_id', 'id')
    ORDER BY a.attname = 'segment_id' DESC
    LIMIT 1;
    IF id_column IS NULL THEN
        RAISE EXCEPTION 'relation "%" has no column "segment_id" or "id"',
                (SELECT c.relname FROM pg_class c WHERE c.oid = segments)
            USING ERRCODE = 'undefined_column',
                  HINT = 'The segments to keep are read from the column segment_id, or else id.';
    END IF;

    -- fetched: what Braze gives now; changed: those of its rows the table
    -- does not hold as they are, classified against the statement's snapshot
    EXECUTE format($q$
        WITH fetched AS MATERIALIZED (
            SELECT d.segment_id, d.time, d.size
            FROM (SELECT DISTINCT s.%1$I AS id FROM %2$s s) s
            JOIN %3$s d ON d.segment_id = s.id
            WHERE d.time >= $1 %4$s),
        changed AS MATERIALIZED (
            SELECT f.segment_id, f.time, f.size, h.segment_id IS NULL AS is_new
            FROM fetched f
            LEFT JOIN %5$s h ON h.segment_id = f.segment_id AND h.time = f.time
            WHERE h.size IS DISTINCT FROM f.size),
        written AS (
            INSERT INTO %5$s AS h (segment_id, time, size)
            SELECT c.segment_id, c.time, c.size FROM changed c
            ON CONFLICT (segment_id, time) DO UPDATE SET size = excluded.size
                WHERE h.size IS DISTINCT FROM excluded.size
            RETURNING h.segment_id, h.time)
        SELECT count(*) FILTER (WHERE c.is_new),
               count(*) FILTER (WHERE NOT c.is_new),
               (SELECT count(*) FROM fetched) - count(*)
        FROM written w
        JOIN changed c ON c.segment_id = w.segment_id AND c.time = w.time
        $q$,
        id_column, segments, sizes,
        CASE WHEN until IS NOT NULL THEN 'AND d.time <= $2' ELSE '' END,
        history)
    INTO inserted, updated, unchanged
    USING since, until;
END
$sync$;
