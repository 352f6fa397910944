/* segment_fdw--1.1--1.2.sql: history kept in an ordinary table (issue 19) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION segment_fdw UPDATE TO '1.2'" to load this file. \quit

-- Copy the daily sizes of a set of segments, from since to until (or today),
-- into a table of one's own: rows not there yet are inserted, rows whose
-- size Braze now gives otherwise are updated, and nothing else is written.
--
-- history:  a table with columns segment_id, time (date) and size, and a
--           primary key or unique index on (segment_id, time)
-- segments: the segments to keep: a relation with a column segment_id, or
--           else id (the segments table of IMPORT FOREIGN SCHEMA)
-- sizes:    a data_series foreign table (columns segment_id, time (date),
--           size)
--
-- It is one statement, an INSERT ... ON CONFLICT of the sizes of
-- segment_id = ANY (ARRAY(SELECT DISTINCT ... FROM segments)): the scan
-- counts its requests against max_requests before it sends any, and a
-- failure writes nothing.  It runs with the caller's privileges and keeps
-- no state of its own.
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
    col_type regtype;
BEGIN
    IF history IS NULL OR segments IS NULL OR sizes IS NULL OR since IS NULL THEN
        RAISE EXCEPTION 'segment_fdw_sync needs history, segments, sizes and since'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF since > until THEN
        RAISE EXCEPTION 'since (%) is after until (%)', since, until
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- the columns it reads and writes; time is a date in both, so that a
    -- day is one row whatever the session's time zone
    FOR rel, col IN
        SELECT r, c FROM (VALUES (history), (sizes)) AS t(r),
                         unnest(ARRAY['segment_id', 'time', 'size']) AS c
    LOOP
        SELECT a.atttypid INTO col_type
        FROM pg_attribute a
        WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF col_type IS NULL THEN
            RAISE EXCEPTION 'column "%" of relation "%" does not exist',
                    col, (SELECT c.relname FROM pg_class c WHERE c.oid = rel)
                USING ERRCODE = 'undefined_column',
                      HINT = 'segment_fdw_sync reads and writes the columns segment_id, time and size.';
        END IF;
        IF col = 'time' AND col_type <> 'date'::regtype THEN
            RAISE EXCEPTION 'column "time" of relation "%" is of type %, not date',
                    (SELECT c.relname FROM pg_class c WHERE c.oid = rel), col_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_index i
                   WHERE i.indrelid = history AND i.indisunique AND i.indimmediate
                     AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnatts = 2
                     AND (SELECT array_agg(a.attname ORDER BY a.attname)
                          FROM pg_attribute a
                          WHERE a.attrelid = history
                            AND a.attnum = ANY (i.indkey::int2[])) = '{segment_id,time}') THEN
        RAISE EXCEPTION 'relation "%" has no unique index on (segment_id, time)',
                (SELECT c.relname FROM pg_class c WHERE c.oid = history)
            USING ERRCODE = 'invalid_column_reference',
                  HINT = format('Add one: ALTER TABLE %s ADD PRIMARY KEY (segment_id, time).', history);
    END IF;
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
            FROM %3$s d
            WHERE d.segment_id = ANY (ARRAY(SELECT DISTINCT s.%1$I::text FROM %2$s s))
              AND d.time >= $1 %4$s),
        changed AS MATERIALIZED (
            SELECT f.segment_id, f.time, f.size, h.segment_id IS NULL AS is_new
            FROM fetched f
            LEFT JOIN %5$s h ON h.segment_id = f.segment_id AND h.time = f.time
            WHERE h.segment_id IS NULL OR h.size IS DISTINCT FROM f.size),
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
