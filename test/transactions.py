#!/usr/bin/env python3
"""Scans tied to transactions: one session runs, ITERATIONS times, cursors opened before a
savepoint that is rolled back and inside it (rolled back and released), an error in the middle
of a fan-out inside a subtransaction followed by more queries in the outer transaction (SQL
savepoint and PL/pgSQL exception block), a WITH HOLD cursor across commit, and a two-phase
commit with a cursor whose requests are in flight at PREPARE TRANSACTION.

Every iteration's rows are compared with the stand-in's formula, every error with the one
expected; the backend's descriptors, its sockets to the stand-in and its memory contexts are
measured after a warm-up and at the end, and must not grow.

Usage: transactions.py [ITERATIONS]   (default 1000; PG* and SEGMENT_FDW_TEST_URL from the caller)
Prints "ok ..." / "not ok ..." lines.
"""

import datetime as dt
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgsession import Session, contexts_bytes, descriptors, sockets_to  # noqa: E402

DAY = dt.date(2024, 1, 1)
WARMUP = 100

SETUP = """
CREATE SERVER txn_braze FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url '{url}', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER txn_braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE txn_sizes (segment_id text, time date, size bigint) SERVER txn_braze;
"""

# One iteration.  slow-50 answers after 50 ms: its request is still in flight when its
# (sub)transaction ends, and is never waited for.
ITERATION = """
BEGIN;
DECLARE a CURSOR FOR SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('a1', 'a2', 'a3') AND time = '2024-01-01';
FETCH 1 FROM a;
SAVEPOINT s;
FETCH 1 FROM a;
DECLARE b CURSOR FOR SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('b1', 'slow-50', 'b2') AND time = '2024-01-01';
FETCH 1 FROM b;
ROLLBACK TO s;
FETCH ALL FROM a;
SAVEPOINT r;
DECLARE c CURSOR FOR SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('c1', 'c2', 'c3') AND time = '2024-01-01';
FETCH 1 FROM c;
RELEASE r;
FETCH ALL FROM c;
COMMIT;
BEGIN;
SAVEPOINT e;
SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('e1', 'http-404', 'slow-50', 'e2') AND time = '2024-01-01';
ROLLBACK TO e;
SELECT count(*), sum(size) FROM txn_sizes
  WHERE segment_id IN ('f1', 'f2', 'f3') AND time = '2024-01-01';
DO $$
BEGIN
  PERFORM count(*) FROM txn_sizes
    WHERE segment_id IN ('g1', 'http-404', 'slow-50') AND time = '2024-01-01';
EXCEPTION WHEN fdw_error THEN
  NULL;
END $$;
SELECT segment_id, size FROM txn_sizes WHERE segment_id = 'g2' AND time = '2024-01-01';
COMMIT;
BEGIN;
DECLARE h CURSOR WITH HOLD FOR SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('h1', 'h2', 'h3') AND time = '2024-01-01';
FETCH 1 FROM h;
COMMIT;
FETCH ALL FROM h;
CLOSE h;
BEGIN;
SELECT count(*), sum(size) FROM txn_sizes
  WHERE segment_id IN ('p1', 'p2') AND time = '2024-01-01';
DECLARE p CURSOR FOR SELECT segment_id, size FROM txn_sizes
  WHERE segment_id IN ('p3', 'slow-50', 'p4') AND time = '2024-01-01';
FETCH 1 FROM p;
PREPARE TRANSACTION 'segment_fdw_txn';
COMMIT PREPARED 'segment_fdw_txn';
"""

ERROR_404 = "ERROR:  Braze API returned HTTP 404 (Not Found)"


def size(segment_id):
    """The stand-in's size of "segment_id" on DAY (test/standin.py, series_rows)."""
    return (DAY - dt.date(2020, 1, 1)).days * 10 + sum(segment_id.encode()) % 1000


def row(segment_id):
    return f"{segment_id}|{size(segment_id)}"


def total(*ids):
    return f"{len(ids)}|{sum(size(i) for i in ids)}"


EXPECTED = [row("a1"), row("a2"), row("b1"), row("a3"),
            row("c1"), row("c2"), row("c3"),
            total("f1", "f2", "f3"), row("g2"),
            row("h1"), row("h2"), row("h3"),
            total("p1", "p2"), row("p3")]


def measure(session, port):
    """Sockets to the stand-in (idle ones vary with timing, up to the cap), the other
    descriptors, and the memory contexts' bytes."""
    sockets = sockets_to(session.pid, port)
    return {"sockets": sockets, "other descriptors": descriptors(session.pid) - sockets,
            "contexts": contexts_bytes(session)}


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    url = os.environ["SEGMENT_FDW_TEST_URL"]
    port = urllib.parse.urlsplit(url).port
    setup = Session()
    setup.run(SETUP.format(url=url))
    session = Session()
    try:
        wrong = []
        first = last = None
        for i in range(1, iterations + 1):
            out = session.run(ITERATION)
            if out != EXPECTED:
                wrong.append((i, out))
            if i == min(WARMUP, iterations):
                first = measure(session, port)
        last = measure(session, port)
        errors = [e for e in session.errors if e.startswith("ERROR:")]
        print(f"# {iterations} iterations; after {min(WARMUP, iterations)}: {first}; at the end: {last}")
        if wrong:
            print(f"not ok rows differ in {len(wrong)} of {iterations} iterations; first: "
                  f"iteration {wrong[0][0]}: {wrong[0][1]}")
        else:
            print(f"ok exact rows in all {iterations} iterations of the transaction shapes")
        if errors == [ERROR_404] * iterations:
            print(f"ok one error per iteration, the 404 inside the savepoint ({len(errors)})")
        else:
            print(f"not ok errors: {len(errors)} for {iterations} iterations; "
                  f"first unexpected: {next((e for e in errors if e != ERROR_404), None)}")
        for key, allowed in (("other descriptors", 0), ("contexts", 16384)):
            grew = last[key] - first[key]
            if grew <= allowed:
                print(f"ok {key} flat over {iterations - WARMUP} iterations (changed by {grew})")
            else:
                print(f"not ok {key} grew by {grew} over {iterations - WARMUP} iterations")
        if last["sockets"] <= 8:
            print(f"ok the backend holds {last['sockets']} sockets to the stand-in, at most "
                  f"segment_fdw.max_idle_connections (8)")
        else:
            print(f"not ok the backend holds {last['sockets']} sockets to the stand-in")
    finally:
        session.close()
        setup.run("DROP SERVER txn_braze CASCADE;")
        setup.close()


if __name__ == "__main__":
    main()
