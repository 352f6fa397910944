#!/usr/bin/env python3
"""The README runs as written: every SQL block of README.md, in order, in a fresh database.

Usage: readme.py --settings            print the postgresql.conf lines the README gives
       readme.py --host H --port P     run the blocks on that cluster (one started with them)

A fenced block is read with the HTML comment on the line before it, if any:
  ```sql                                   run as written, in one psql session, in order
  <!-- readme-test: stand-in: … -->        an sql block run with the stand-in's URL and key in
                                           place of Braze's ('https://rest.iad-01.braze.com', '…')
  <!-- readme-test: skip: REASON -->       not run (counted and named)
  <!-- readme-test: postgresql.conf -->    settings of the cluster (shared_preload_libraries
                                           lists are joined, as the README says to)
  <!-- readme-test: output of the block above -->     the output of the sql block before it
  <!-- readme-test: output of: PSQL -->    the output of PSQL, {above} being that block's text
A block without a language must carry one of these; ```sh and ```text blocks are commands and
drawings, not run; any other language fails the test.  Fences indented in a list count too.  The blocks run in a database named analytics (the name the README's pg_cron
example uses) against the stand-in at $SEGMENT_FDW_TEST_URL; pg_cron's jobs scheduled by them are
then run once (made to run every minute) and must succeed.  Prints "ok ..." / "not ok ..." lines.
"""

import argparse
import difflib
import os
import re
import sys
import textwrap
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgsession import Session  # noqa: E402

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
MARKER = re.compile(r"^<!-- readme-test: (.*?) -->$")
BRAZE_URL = "'https://rest.iad-01.braze.com'"
BRAZE_KEY = "'…'"
DATABASE = "analytics"


class Block:
    def __init__(self, line, lang, text, marker):
        self.line, self.lang, self.text, self.marker = line, lang, text, marker or ""

    def name(self):
        first = next((l for l in self.text.splitlines() if l and not l.startswith("--")), "")
        return f"line {self.line} ({first[:50].strip()})"


def blocks():
    """Every fenced block, also those indented in a list item, with its marker."""
    lines = open(README, encoding="utf-8").read().splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            lang = lines[i].lstrip()[3:].strip()
            m = MARKER.match(lines[i - 1].strip()) if i > 0 else None
            j = i + 1
            while not lines[j].lstrip().startswith("```"):
                j += 1
            text = textwrap.dedent("\n".join(lines[i + 1:j]))
            out.append(Block(i + 1, lang, text, m and m[1]))
            i = j
        i += 1
    return out


def settings(all_blocks):
    """The postgresql.conf lines of the README, one shared_preload_libraries of all it names."""
    found, libraries = [], []
    for b in all_blocks:
        if b.marker != "postgresql.conf":
            continue
        for line in b.text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, value = (p.strip() for p in line.split("=", 1))
            if name == "shared_preload_libraries":
                libraries += [l for l in value.strip("'").split(",") if l not in libraries]
            else:
                found.append(f"{name} = {value}")
    return [f"shared_preload_libraries = '{','.join(libraries)}'"] + found


class Run:
    """The checks' tally, and the blocks skipped."""

    def __init__(self):
        self.passed = self.failed = 0
        self.skipped = []

    def check(self, ok, what, why=""):
        print(("ok " if ok else "not ok ") + "readme: " + what + ("" if ok else f": {why}"))
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def errors_of(session):
    """What psql wrote to stderr, but NOTICEs (DROP ... CASCADE's, CREATE ... IF NOT EXISTS'):
    errors, warnings, and psql's own complaints (an unknown command, \\gset without a row)."""
    bad, notice = [], False
    for e in session.errors:
        if e.startswith("NOTICE:"):
            notice = True
        elif notice and (re.match(r"(DETAIL|HINT|CONTEXT):", e) or e.startswith("drop cascades to ")):
            pass
        else:
            notice = False
            bad.append(e)
    session.errors.clear()
    return bad


def compare(shown, got):
    """Both as lines without the indentation they share; the diff, or "" when equal."""
    want = textwrap.dedent(shown).splitlines()
    have = textwrap.dedent("\n".join(got)).splitlines()
    want, have = [l.rstrip() for l in want], [l.rstrip() for l in have]
    if want == have:
        return ""
    return "\n".join(difflib.unified_diff(want, have, "README", "psql", lineterm=""))


def run_cron_jobs(run, env):
    """Each job the README scheduled, made to run at the next minute: it must succeed."""
    cron = Session("-d", "postgres", env=env)
    jobs = cron.run("SELECT jobid || '|' || jobname FROM cron.job ORDER BY jobid;")
    run.check(jobs and not errors_of(cron), "the README schedules a pg_cron job",
              f"{len(jobs)} jobs in cron.job")
    for job in jobs:
        jobid, name = job.split("|", 1)
        started = cron.run("SELECT now();")[0]
        cron.run(f"SELECT cron.alter_job({jobid}, schedule := '* * * * *');")
        status = []
        deadline = time.monotonic() + 90
        while not status and time.monotonic() < deadline:
            time.sleep(1)
            status = cron.run(f"""SELECT status || '|' || coalesce(return_message, '')
FROM cron.job_run_details WHERE jobid = {jobid} AND start_time >= '{started}'
  AND status IN ('succeeded', 'failed') ORDER BY start_time LIMIT 1;""")
        cron.run(f"SELECT cron.unschedule({jobid});")
        bad = errors_of(cron)
        run.check(status[:1] == ["succeeded|SELECT 1"] and not bad,
                  f"the pg_cron job {name} ran in database {DATABASE} and succeeded",
                  f"{status or 'no run within 90 s'} {bad}")
    cron.close()
    return len(jobs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", action="store_true")
    ap.add_argument("--host")
    ap.add_argument("--port")
    args = ap.parse_args()
    all_blocks = blocks()
    if args.settings:
        print("\n".join(settings(all_blocks)))
        return 0

    url = os.environ["SEGMENT_FDW_TEST_URL"]
    # the stand-in as it starts: 230 segments, no faults left by earlier tests
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    no_proxy.open(urllib.request.Request(url + "/__control/reset", method="POST")).read()
    env = dict(os.environ, PGHOST=args.host, PGPORT=str(args.port), PGDATABASE="postgres")
    admin = Session(env=env)
    admin.run(f"DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE};")
    session = Session("-d", DATABASE, env=env)
    run = Run()
    above, outputs = None, {}
    standin_blocks = 0
    for b in all_blocks:
        kind = b.marker.split(":", 1)[0]
        if b.lang not in ("sql", "", "sh", "text"):
            run.check(False, f"block at line {b.line}",
                      f"a block in {b.lang!r}: write sql (run), sh or text (not run), "
                      "or no language (output, with a marker)")
        elif b.lang == "sql":
            if kind == "skip":
                run.skipped.append(f"{b.name()}: {b.marker.split(':', 1)[1].strip()}")
                continue
            sql = b.text
            if kind == "stand-in":
                if sql.count(BRAZE_URL) + sql.count(BRAZE_KEY) != 2:
                    run.check(False, b.name(), f"expected {BRAZE_URL} and {BRAZE_KEY} once each")
                    continue
                sql = sql.replace(BRAZE_URL, "'" + url + "'").replace(BRAZE_KEY, "'regress-key'")
                standin_blocks += 1
            elif b.marker:
                run.check(False, b.name(), f"unknown marker for an sql block: {b.marker}")
                continue
            got = session.run(sql)
            bad = errors_of(session)
            run.check(not bad, f"{b.name()} runs" +
                      (" with the stand-in's url and key" if kind == "stand-in" else ""),
                      "; ".join(bad[:3]))
            above, outputs[b.line] = b, got
        elif b.lang == "":
            if kind == "postgresql.conf":
                continue         # given to the cluster (--settings)
            if kind == "skip":
                run.skipped.append(f"{b.name()}: {b.marker.split(':', 1)[1].strip()}")
                continue
            if b.marker == "output of the block above" and above is not None:
                got = outputs[above.line]
            elif b.marker.startswith("output of:") and above is not None:
                got = session.run(b.marker.split(":", 1)[1].replace("{above}", above.text + "\n"))
                bad = errors_of(session)
                if bad:
                    run.check(False, f"output at {b.name()}", "; ".join(bad[:3]))
                    continue
            else:
                run.check(False, f"block at line {b.line}",
                          "an output or settings block needs a readme-test marker")
                continue
            diff = compare(b.text, got)
            run.check(not diff, f"the output shown at line {b.line} is what "
                      f"line {above.line}'s block gives", "\n" + diff)
    session.close()

    jobs = run_cron_jobs(run, env)
    admin.run(f"DROP DATABASE {DATABASE} WITH (FORCE);")
    admin.close()
    print(f"readme: {run.passed + run.failed} checks: the SQL blocks of README.md in order "
          f"({standin_blocks} with the stand-in's URL and key), the outputs they show, "
          f"{jobs} pg_cron job(s); {len(run.skipped)} blocks skipped, as marked:")
    for s in run.skipped:
        print(f"readme:   skipped {s}")
    return 0 if run.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
