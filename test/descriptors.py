#!/usr/bin/env python3
"""Descriptors and idle connections (issue 17).

  many      20 sessions run 200 fan-out queries; no backend keeps more sockets to the stand-in
            than segment_fdw.max_idle_connections, and none once its connections were idle for
            segment_fdw.idle_connection_timeout and a transaction ended; 0 keeps none.
  scarce    on a cluster with max_files_per_process = 64 (PGHOST/PGPORT given as
            --scarce-host/--scarce-port), a 64-segment query on a superuser's server at
            max_concurrency 64 succeeds, waiting for descriptors, while the same backend's
            other statements, run with its requests in flight, find the descriptors they need;
            with every external descriptor taken (dblink), it fails with the documented error.

Usage: descriptors.py [--scarce-host H --scarce-port P]   (PG* and SEGMENT_FDW_TEST_URL)
Prints "ok ..." / "not ok ..." lines.
"""

import argparse
import datetime as dt
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgsession import Session, sockets_to  # noqa: E402

DAY = dt.date(2024, 1, 1)
SESSIONS = 20
QUERIES = 10
CAP = 8                         # segment_fdw.max_idle_connections' default

SETUP = """
CREATE SERVER dsc_braze FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url '{url}', max_retries '0', max_concurrency '{concurrency}');
CREATE USER MAPPING FOR CURRENT_USER SERVER dsc_braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE dsc_sizes (segment_id text, time date, size bigint) SERVER dsc_braze;
"""


def size(segment_id):
    """The stand-in's size of "segment_id" on DAY (test/standin.py, series_rows)."""
    return (DAY - dt.date(2020, 1, 1)).days * 10 + sum(segment_id.encode()) % 1000


def fan_out(prefix, n):
    """A query for n segments on DAY, and the row it must give."""
    ids = [f"{prefix}-{g}" for g in range(1, n + 1)]
    sql = (f"SELECT count(*), sum(size) FROM dsc_sizes WHERE segment_id = ANY "
           f"(ARRAY(SELECT '{prefix}-' || g FROM generate_series(1, {n}) g)) "
           f"AND time = '{DAY}';")
    return sql, [f"{n}|{sum(size(i) for i in ids)}"]


def check(ok, good, bad):
    print(("ok " + good) if ok else ("not ok " + bad))


def many(url, port):
    setup = Session()
    setup.run(SETUP.format(url=url, concurrency=16))
    sessions = [Session() for _ in range(SESSIONS)]
    try:
        for s in sessions:
            s.run("SET segment_fdw.idle_connection_timeout = '1s';")
        wrong = []

        def work(k, s):
            for q in range(QUERIES):
                sql, expected = fan_out(f"m{k}q{q}", 16)
                out = s.run(sql)
                if out != expected:
                    wrong.append((k, q, out, s.errors[-3:]))

        threads = [threading.Thread(target=work, args=(k, s)) for k, s in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        held = [sockets_to(s.pid, port) for s in sessions]
        check(not wrong, f"{SESSIONS * QUERIES} fan-out queries of 16 segments in {SESSIONS} "
              "sessions gave exact rows", f"wrong rows: {wrong[:2]}")
        check(0 < max(held) <= CAP,
              f"after them, each backend keeps at most {CAP} sockets (most {max(held)}, "
              f"in all {sum(held)})",
              f"sockets kept per backend: {held}")

        time.sleep(1.5)
        for s in sessions:
            s.run("SELECT 1;")
        held = [sockets_to(s.pid, port) for s in sessions]
        check(sum(held) == 0, "idle past idle_connection_timeout (1s), every backend's "
              "connections are closed at its next transaction's end",
              f"sockets left after the idle time: {held}")

        s = sessions[0]
        s.run("SET segment_fdw.max_idle_connections = 0;")
        sql, expected = fan_out("m-none", 16)
        out = s.run(sql)
        check(out == expected and sockets_to(s.pid, port) == 0,
              "max_idle_connections = 0 keeps no connection after a fan-out",
              f"max_idle_connections = 0: rows {out}, sockets {sockets_to(s.pid, port)}")
    finally:
        for s in sessions:
            s.close()
        setup.run("DROP SERVER dsc_braze CASCADE;")
        setup.close()


# Statements of the same backend that need descriptors of their own, run while the fan-out's
# requests are in flight: 70 tables read in one statement (each a file), and a sort that
# spills to temporary files.
OTHERS = """
DO $$ BEGIN
  FOR i IN 1..70 LOOP
    EXECUTE format('CREATE TEMP TABLE dsc_t%s AS SELECT %s AS v', i, i);
  END LOOP;
END $$;
SELECT sum(v) FROM ({union}) u;
SET LOCAL work_mem = '64kB';
SELECT count(*), min(g), max(g) FROM (SELECT g FROM generate_series(1, 200000) g ORDER BY g DESC) s;
"""


def scarce(url, port, host, scarce_port):
    env = dict(os.environ, PGHOST=host, PGPORT=str(scarce_port), PGDATABASE="postgres")
    setup = Session(env=env)
    setup.run("CREATE EXTENSION IF NOT EXISTS segment_fdw; CREATE EXTENSION IF NOT EXISTS dblink;"
              + SETUP.format(url=url, concurrency=64))
    s = Session(env=env)
    try:
        files = s.run("SHOW max_files_per_process;")
        sql, expected = fan_out("s", 64)
        union = " UNION ALL ".join(f"SELECT v FROM dsc_t{i}" for i in range(1, 71))
        out = s.run("BEGIN;\nDECLARE c CURSOR FOR " + sql.rstrip(";").replace(
            "SELECT count(*), sum(size) FROM", "SELECT segment_id, size FROM") + ";\n"
            "FETCH 1 FROM c;\n" + OTHERS.format(union=union) + "FETCH ALL FROM c;\nCOMMIT;")
        want = [f"s-{g}|{size(f's-{g}')}" for g in range(1, 65)]
        check(out[:1] == want[:1] and out[1:3] == ["2485", "200000|1|200000"] and
              out[3:] == want[1:] and not s.errors,
              f"max_files_per_process = {files[0]}: 64 segments at max_concurrency 64 gave "
              "exact rows, and the backend's statements run meanwhile (70 tables in one "
              "query, a sort to disk) found their descriptors",
              f"rows {out[:4]}... ({len(out)} lines), errors {s.errors[-4:]}")

        plan = s.run("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                     + fan_out("s2", 64)[0])
        waits = [line.split(":")[1].strip() for line in plan if "Braze Descriptor Waits" in line]
        sent = [line.split(":")[1].strip() for line in plan if "Braze Requests Sent" in line]
        check(waits and int(waits[0]) > 0 and sent == ["64"],
              f"the requests waited for descriptors ({waits[0] if waits else 0} times) and "
              "64 were sent, once each",
              f"EXPLAIN ANALYZE: waits {waits}, sent {sent}; {plan[-3:]} {s.errors[-3:]}")
        held = sockets_to(s.pid, port)
        check(held <= CAP, f"after the fan-out the backend keeps {held} sockets (at most {CAP})",
              f"after the fan-out the backend keeps {held} sockets")

        # another scan's requests hold the descriptors: a query that needs new
        # connections waits for them to finish (driving them), neither spinning
        # without waiting nor failing
        slow = ", ".join(f"'slow-{1500 + g}'" for g in range(40))
        sql, expected = fan_out("s5", 4)
        before = len(s.errors)
        started = time.monotonic()
        out = s.run(f"""BEGIN;
DECLARE slow CURSOR FOR SELECT segment_id FROM dsc_sizes
  WHERE segment_id IN ({slow}) AND time = '{DAY}';
FETCH 1 FROM slow;
SET LOCAL statement_timeout = '30s';
{sql}
FETCH ALL FROM slow;
COMMIT;""")
        took = time.monotonic() - started
        check(out[:1] == ["slow-1500"] and out[1:2] == expected and len(out) == 41 and
              len(s.errors) == before,
              f"while another cursor's 40 slow requests hold the descriptors, a 4-segment query "
              f"waits for them and gives its rows ({took:.1f} s)",
              f"with another scan holding the descriptors: {out[:3]} ({len(out)} lines), "
              f"errors {s.errors[before:][:3]}, {took:.1f} s")

        # every external descriptor taken by dblink connections, then the fan-out fails
        s.run("SET segment_fdw.idle_connection_timeout = 0; SELECT 1;")
        s.run(f"""DO $$ BEGIN
  FOR i IN 1..100 LOOP
    PERFORM dblink_connect('dsc' || i, 'host={host} port={scarce_port} dbname=postgres');
  END LOOP;
EXCEPTION WHEN OTHERS THEN NULL;
END $$;""")
        before = len(s.errors)
        out = s.run(fan_out("s3", 4)[0])
        errors = s.errors[before:]
        check(out == [] and errors[:3] == [
            "ERROR:  could not connect to Braze",
            "DETAIL:  There are too many open files on the local server.",
            "HINT:  Raise max_files_per_process, or lower the server's max_concurrency."],
            "with every external descriptor taken, the query fails with the documented error",
            f"with every descriptor taken: rows {out}, errors {errors[:3]}")
        s.run("SELECT dblink_disconnect(c) FROM unnest(dblink_get_connections()) c;")
        sql, expected = fan_out("s4", 4)
        out = s.run(sql)
        check(out == expected, "once they are given back, the same query succeeds",
              f"after dblink_disconnect: {out} {s.errors[-3:]}")
    finally:
        s.close()
        setup.run("DROP SERVER dsc_braze CASCADE;")
        setup.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scarce-host")
    parser.add_argument("--scarce-port", type=int)
    args = parser.parse_args()
    url = os.environ["SEGMENT_FDW_TEST_URL"]
    port = urllib.parse.urlsplit(url).port
    many(url, port)
    if args.scarce_host:
        scarce(url, port, args.scarce_host, args.scarce_port)


if __name__ == "__main__":
    main()
