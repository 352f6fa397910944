#!/usr/bin/env python3
"""What the backends share (issue 18), on a cluster that preloads segment_fdw
(--host/--port), against the stand-in (SEGMENT_FDW_TEST_URL):

  concurrency   8 sessions at once, 50 segments each at 100 ms a request, max_total_concurrency
                16: never more than 16 in flight at the stand-in, exact rows, within 1.3 x the
                limit (400 / 16 x 100 ms)
  terminate     a backend killed mid-scan gives its slots back: the next query reaches 16
  reserve       budget 1000, rate_limit_reserve 990: a 50-request query fails before sending
                any; no sequence of queries takes the budget below 990 - 16
  cache         a year of 20 segments again, from another session: only the windows with
                yesterday or today are sent; another key sends them all; so does a reset
  stats         segment_fdw_stats agrees with the stand-in's counts
  upgrade       CREATE EXTENSION ... VERSION '1.0' then ALTER EXTENSION UPDATE gives the
                objects of a fresh install

(Without the preload, the suite "shared" checks that segment_fdw_stats says it needs it.)

Usage: shared.py --host H --port P
Prints "ok ..." / "not ok ..." lines.
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgsession import Session, run_at_once  # noqa: E402

URL = os.environ["SEGMENT_FDW_TEST_URL"]
DAY = dt.date(2024, 1, 1)


def standin(path):
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        return r.read().decode()


def stats():
    """The stand-in's counters: requests, connections, max_in_flight."""
    return {k: int(v) for k, v in (kv.split("=") for kv in standin("/__control/stats").split())}


def size(segment_id, day=DAY):
    return (day - dt.date(2020, 1, 1)).days * 10 + sum(segment_id.encode()) % 1000


def check(ok, good, bad):
    print(("ok " + good) if ok else ("not ok " + bad))


def fan_out(prefix, n, table="sh_sizes"):
    ids = [f"{prefix}-{g}" for g in range(1, n + 1)]
    sql = (f"SELECT count(*), sum(size) FROM {table} WHERE segment_id = ANY "
           f"(ARRAY(SELECT '{prefix}-' || g FROM generate_series(1, {n}) g)) AND time = '{DAY}';")
    return sql, [f"{n}|{sum(size(i) for i in ids)}"]


SETUP = """
CREATE EXTENSION IF NOT EXISTS segment_fdw;
CREATE SERVER sh_braze FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url '{url}', max_retries '0', max_concurrency '50', max_total_concurrency '16');
CREATE USER MAPPING FOR CURRENT_USER SERVER sh_braze OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE sh_sizes (segment_id text, time date, size bigint) SERVER sh_braze;
CREATE SERVER sh_other FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '{url}', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER sh_other OPTIONS (api_key 'regress-key-other');
CREATE FOREIGN TABLE sh_other_sizes (segment_id text, time date, size bigint) SERVER sh_other;
"""


def concurrency(env):
    sessions = [Session(env=env) for _ in range(8)]
    try:
        standin("/__control/reset")
        standin("/__control/set?latency_ms=100")
        sessions[0].run("SELECT segment_fdw_stats_reset();")
        took, outputs = run_at_once(sessions, lambda k: fan_out(f"conc{k}", 50)[0])
        results = {k: (outputs[k], fan_out(f"conc{k}", 50)[1]) for k in range(len(sessions))}
        st = stats()
        limit = 400 / 16 * 0.1
        wrong = [k for k, (out, expected) in results.items() if out != expected]
        check(not wrong, "8 sessions x 50 segments at once: each has exactly its rows",
              f"sessions with wrong rows: {wrong} {[results[k] for k in wrong][:1]}")
        check(st["max_in_flight"] <= 16 and st["requests"] == 400,
              f"never more than max_total_concurrency (16) in flight at the stand-in: most "
              f"{st['max_in_flight']}, {st['requests']} requests",
              f"the stand-in saw {st['max_in_flight']} in flight, {st['requests']} requests")
        check(took <= 1.3 * limit,
              f"the 8 sessions took {took:.2f} s, {took / limit:.2f} x the limit of {limit:.1f} s",
              f"the 8 sessions took {took:.2f} s, {took / limit:.2f} x the limit of {limit:.1f} s")
        row = sessions[0].run("SELECT requests, retries, rate_limited, failed, bytes > 0, "
                              "cache_hits, in_flight, waiting, ratelimit_limit, "
                              "ratelimit_remaining >= 0, ratelimit_reset > now() "
                              "FROM segment_fdw_stats WHERE server = 'sh_braze';")
        check(row == [f"{st['requests']}|0|0|0|t|0|0|0|250000|t|t"],
              f"segment_fdw_stats agrees with the stand-in: {row[0] if row else None}",
              f"segment_fdw_stats: {row}, the stand-in: {st}")
        return took, limit, st["max_in_flight"]
    finally:
        standin("/__control/set?latency_ms=0")
        for s in sessions:
            s.close()


def terminate(env):
    killer = Session(env=env)
    victim = Session(env=env)
    try:
        slow = ", ".join(f"'slow-{4000 + g}'" for g in range(32))
        victim.proc.stdin.write(f"SELECT count(*) FROM sh_sizes WHERE segment_id IN ({slow}) "
                                f"AND time = '{DAY}';\n")
        victim.proc.stdin.flush()
        time.sleep(1.0)
        during = killer.run("SELECT in_flight FROM segment_fdw_stats WHERE server = 'sh_braze';")
        killer.run(f"SELECT pg_terminate_backend({victim.pid});")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not killer.run(f"SELECT 1 FROM pg_stat_activity WHERE pid = {victim.pid};"):
                break
            time.sleep(0.1)
        after = killer.run("SELECT in_flight, waiting FROM segment_fdw_stats "
                           "WHERE server = 'sh_braze';")
        # a query waiting its turn honours statement_timeout, and leaves the queue
        holder = Session(env=env)
        slow = ", ".join(f"'slow-{3000 + g}'" for g in range(16))
        holder.proc.stdin.write(f"SELECT count(*) FROM sh_sizes WHERE segment_id IN ({slow}) "
                                f"AND time = '{DAY}';\n")
        holder.proc.stdin.flush()
        time.sleep(0.5)
        before = len(killer.errors)
        started = time.monotonic()
        queued = killer.run("SET statement_timeout = '700ms';\n" + fan_out("queued", 4)[0]
                            + "\nRESET statement_timeout;")
        waited = time.monotonic() - started
        left = killer.run("SELECT waiting FROM segment_fdw_stats WHERE server = 'sh_braze';")
        holder.close()
        check(queued == [] and killer.errors[before:before + 1] ==
              ["ERROR:  canceling statement due to statement timeout"] and left == ["0"] and
              waited < 2.5,
              f"a query queued behind 16 slow requests is cancelled by statement_timeout after "
              f"{waited:.1f} s, and leaves the queue",
              f"queued: {queued} {killer.errors[before:before + 2]} waiting {left}, {waited:.1f} s")
        standin("/__control/reset")
        standin("/__control/set?latency_ms=100")
        sql, expected = fan_out("term", 32)
        out = killer.run(sql)
        st = stats()
        check(during == ["16"] and after == ["0|0"] and out == expected and
              st["max_in_flight"] == 16,
              "a backend killed with 16 requests in flight gives its slots back: in flight "
              f"{during[0] if during else None} before, {after[0] if after else None} after, "
              f"and the next query reaches {st['max_in_flight']} in flight",
              f"terminate: in flight {during} before, {after} after; next query {out}, "
              f"stand-in {st}")
    finally:
        standin("/__control/set?latency_ms=0")
        killer.close()
        try:
            victim.close()
        except Exception:
            pass


def one_query_two_scans(env):
    """Two scans of one server in one query or transaction, max_total_concurrency below their
    max_concurrency: neither waits for the other's finished requests."""
    s = Session(env=env)
    try:
        s.run(f"""CREATE SERVER sh_tight FOREIGN DATA WRAPPER segment_fdw
  OPTIONS (url '{URL}', max_retries '0', max_concurrency '8', max_total_concurrency '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER sh_tight OPTIONS (api_key 'regress-key');
CREATE FOREIGN TABLE tight_a (segment_id text, time date, size bigint) SERVER sh_tight;
CREATE FOREIGN TABLE tight_b (segment_id text, time date, size bigint) SERVER sh_tight;""")
        ids = [f"tight-{g}" for g in range(1, 13)]
        listed = ", ".join(f"'{i}'" for i in ids)
        before = len(s.errors)
        started = time.monotonic()
        joined = s.run(f"""SET statement_timeout = '20s';
SELECT count(*), sum(a.size + b.size) FROM tight_a a JOIN tight_b b ON b.segment_id = a.segment_id
WHERE a.segment_id IN ({listed}) AND a.time = '{DAY}' AND b.time = '{DAY}';
BEGIN;
DECLARE c1 CURSOR FOR SELECT segment_id FROM tight_a WHERE segment_id IN ({listed}) AND time = '{DAY}';
DECLARE c2 CURSOR FOR SELECT segment_id FROM tight_b WHERE segment_id IN ({listed}) AND time = '{DAY}';
FETCH 1 FROM c1;
FETCH 1 FROM c2;
FETCH ALL FROM c1;
FETCH ALL FROM c2;
COMMIT;
RESET statement_timeout;""")
        took = time.monotonic() - started
        expected = [f"12|{2 * sum(size(i) for i in ids)}"] + ids[:1] + ids[:1] + ids[1:] + ids[1:]
        check(joined == expected and len(s.errors) == before and took < 10,
              f"a batched join and two cursors over one server with max_total_concurrency 2 "
              f"(max_concurrency 8) give their rows in {took:.1f} s",
              f"two scans of one server: {joined[:3]} ({len(joined)} lines), "
              f"errors {s.errors[before:][:2]}, {took:.1f} s")
    finally:
        s.run("DROP SERVER sh_tight CASCADE;")
        s.close()


def reserve(env):
    s = Session(env=env)
    try:
        # the budget is known until the stand-in's hour resets: not across it
        now = dt.datetime.now(dt.timezone.utc)
        if now.minute == 59 and now.second >= 40:
            time.sleep(62 - now.second)
        standin("/__control/reset")
        s.run("ALTER SERVER sh_braze OPTIONS (ADD rate_limit_reserve '990');")
        standin("/__control/set?remaining=1000&enforce_budget=1")
        first = s.run("SELECT count(*) FROM sh_sizes WHERE segment_id = 'res-0' "
                      f"AND time = '{DAY}';")
        before = stats()["requests"]
        errors = len(s.errors)
        sql, _ = fan_out("res-big", 50)
        out = s.run(sql)
        refused = s.errors[errors:errors + 2]
        check(first == ["1"] and out == [] and stats()["requests"] == before and refused[:1] == [
            'ERROR:  a scan of foreign table "sh_sizes" would take Braze\'s rate limit below '
            'rate_limit_reserve'],
              "with 999 left and a reserve of 990, a 50-request query fails before sending any: "
              + (refused[1] if len(refused) > 1 else ""),
              f"reserve: first {first}, out {out}, requests {before} -> {stats()['requests']}, "
              f"errors {refused}")
        # four at a time until refused, from two sessions: never below 990 - 16
        other = Session(env=env)
        for k in range(12):
            for sess in (s, other):
                sess.run(fan_out(f"res{k}-{sess.pid}", 4)[0])
        sent = stats()["requests"]
        other.close()
        check(1000 - sent >= 990 - 16,
              f"24 queries of 4 requests from two sessions leave {1000 - sent} of the budget "
              f"(the reserve 990, less one round of 16: 974)",
              f"the budget went down to {1000 - sent}")
    finally:
        s.run("ALTER SERVER sh_braze OPTIONS (DROP rate_limit_reserve);")
        standin("/__control/reset")
        s.close()


def cache(env):
    year = ("SELECT count(*), sum(size) FROM {table} WHERE segment_id = ANY "
            "(ARRAY(SELECT 'year-' || g FROM generate_series(1, 20) g)) "
            "AND time >= current_date - 364;")
    a = Session(env=env)
    b = Session(env=env)
    try:
        a.run("SELECT segment_fdw_cache_reset();")
        standin("/__control/reset")
        first = a.run(year.format(table="sh_sizes"))
        all_requests = stats()["requests"]
        today = dt.datetime.now(dt.timezone.utc).date()
        # windows of 98 days ending today: those whose last day asked (one past the
        # window) is before yesterday can be kept
        standin("/__control/reset")
        second = b.run(year.format(table="sh_sizes"))
        recent = stats()["requests"]
        plan = b.run("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                     + year.format(table="sh_sizes"))
        hits = [ln.split(":")[1].strip() for ln in plan if "Windows From Cache" in ln]
        check(first == second and 0 < recent < all_requests and recent == 20 and
              hits == [str(all_requests - 20)],
              f"a year of 20 segments again, from another session: {recent} of {all_requests} "
              f"requests sent (the windows with yesterday or today), {hits[0] if hits else 0} "
              f"windows from the cache, the same rows",
              f"cache: first {first}, second {second}, requests {all_requests} then {recent}, "
              f"EXPLAIN {hits} (today {today})")
        standin("/__control/reset")
        other = b.run(year.format(table="sh_other_sizes"))
        check(other == first and stats()["requests"] == all_requests,
              f"with another API key all {all_requests} are sent",
              f"another key: {other}, {stats()['requests']} requests")
        dropped = a.run("SELECT segment_fdw_cache_reset('sh_braze') > 0;")
        standin("/__control/reset")
        again = b.run(year.format(table="sh_sizes"))
        check(dropped == ["t"] and again == first and stats()["requests"] == all_requests,
              f"after segment_fdw_cache_reset('sh_braze') all {all_requests} are sent again",
              f"after the reset: {dropped} {again}, {stats()['requests']} requests")
    finally:
        a.close()
        b.close()


def upgrade(env):
    s = Session(env=env)
    members = """SELECT pg_describe_object(classid, objid, 0) || ' ' ||
  CASE classid
    WHEN 'pg_proc'::regclass THEN pg_get_functiondef(objid) ||
      coalesce((SELECT proacl::text FROM pg_proc WHERE oid = objid), '')
    WHEN 'pg_class'::regclass THEN pg_get_viewdef(objid)
    ELSE '' END
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segment_fdw')
ORDER BY 1;"""
    try:
        s.run("DROP DATABASE IF EXISTS sh_fresh; DROP DATABASE IF EXISTS sh_updated;"
              "CREATE DATABASE sh_fresh; CREATE DATABASE sh_updated;")
        fresh = Session("-d", "sh_fresh", env=env)
        updated = Session("-d", "sh_updated", env=env)
        fresh.run("CREATE EXTENSION segment_fdw;")
        v10 = updated.run("CREATE EXTENSION segment_fdw VERSION '1.0'; "
                          "SELECT extversion FROM pg_extension WHERE extname = 'segment_fdw';")
        v11 = updated.run("ALTER EXTENSION segment_fdw UPDATE; "
                          "SELECT extversion FROM pg_extension WHERE extname = 'segment_fdw';")
        a, b = fresh.run(members), updated.run(members)
        # the view's row types are members too from 17 on: the objects written in the scripts
        count = """SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
  AND deptype = 'e' AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segment_fdw')
  AND classid <> 'pg_type'::regclass;"""
        n = fresh.run(count)
        fresh.close()
        updated.close()
        check(v10 == ["1.0"] and v11 == ["1.2"] and a == b and n == ["8"],
              f"CREATE EXTENSION at 1.0 and ALTER EXTENSION UPDATE give the {n[0]} objects "
              "of a fresh 1.2 install, definitions and privileges alike",
              f"upgrade: {v10} -> {v11}; {n} objects; "
              f"differ: {sorted(set(a) ^ set(b))[:2]}")
    finally:
        s.run("DROP DATABASE IF EXISTS sh_fresh; DROP DATABASE IF EXISTS sh_updated;")
        s.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    env = dict(os.environ, PGHOST=args.host, PGPORT=str(args.port), PGDATABASE="postgres")
    setup = Session(env=env)
    setup.run(SETUP.format(url=URL))
    try:
        took, limit, most = concurrency(env)
        print(f"# bench-like: 8 sessions x 50 segments, 100 ms, max_total_concurrency 16: "
              f"{took:.2f} s against {limit:.1f} s, most in flight {most}")
        terminate(env)
        cache(env)
        one_query_two_scans(env)
        upgrade(env)
        # last: the budget it leaves is known until the hour resets
        reserve(env)
    finally:
        setup.run("DROP SERVER sh_braze CASCADE; DROP SERVER sh_other CASCADE;")
        setup.close()
        standin("/__control/reset")


if __name__ == "__main__":
    main()
