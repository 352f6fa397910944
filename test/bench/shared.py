#!/usr/bin/env python3
"""test/bench/run's section 6: 8 sessions at once, 50 segments each, one window each, at the
stand-in's latency, on a server with max_total_concurrency 16; then the same again from 8 new
sessions, answered by the shared cache.  Prints the figures (the cluster preloads segment_fdw;
PG* and SEGMENT_FDW_TEST_URL from the caller)."""

import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pgsession import Session, run_at_once  # noqa: E402

URL = os.environ["SEGMENT_FDW_TEST_URL"]
LATENCY_MS = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def standin(path):
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        return r.read().decode()


def stats():
    return {k: int(v) for k, v in (kv.split("=") for kv in standin("/__control/stats").split())}


def run_sessions():
    """8 new sessions, each 50 segments of one window at once: seconds taken, rows."""
    sessions = [Session() for _ in range(8)]
    took, out = run_at_once(sessions, lambda k: (
        f"SELECT count(*), sum(size) FROM bench_shared_sizes WHERE segment_id = ANY "
        f"(ARRAY(SELECT 'shared{k}-' || g FROM generate_series(1, 50) g)) "
        f"AND time = '2024-01-01';"))
    for s in sessions:
        s.close()
    return took, out


def main():
    setup = Session()
    setup.run(f"""CREATE SERVER bench_shared FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url '{URL}', max_concurrency '50', max_total_concurrency '16');
CREATE USER MAPPING FOR CURRENT_USER SERVER bench_shared OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE bench_shared_sizes (segment_id text, time date, size bigint)
  SERVER bench_shared;
SELECT segment_fdw_cache_reset();""")
    limit = 400 / 16 * LATENCY_MS / 1000
    print(f"6. sessions sharing one server: 8 sessions x 50 segments x one window, "
          f"{LATENCY_MS} ms a request,")
    print("   max_total_concurrency 16; the limit is 400 / 16 x latency")
    print(f"   {'':<44} {'s':>8} {'limit_s':>8} {'x limit':>8} {'requests':>9} {'in flight':>9}")
    for label in ("first run", "again, 8 new sessions (cache)"):
        standin("/__control/reset")
        standin(f"/__control/set?latency_ms={LATENCY_MS}")
        took, rows = run_sessions()
        st = stats()
        print(f"   {label:<44} {took:8.2f} {limit:8.2f} {took / limit:8.2f} "
              f"{st['requests']:9d} {st['max_in_flight']:9d}")
        print(f"   rows: {', '.join(r[0] for r in rows[:2])}, ...")
    shmem = setup.run("SELECT sum(allocated_size) || ' bytes (' || pg_size_pretty(sum(allocated_size)) "
                      "|| ')' FROM pg_shmem_allocations WHERE name = 'segment_fdw';")[0]
    print(f"   shared memory of segment_fdw: {shmem}, segment_fdw.cache_size at its default")
    setup.run("DROP SERVER bench_shared CASCADE;")
    setup.close()


if __name__ == "__main__":
    main()
