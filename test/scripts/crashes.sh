#!/usr/bin/env bash
# test/crashes, which fails a run on a backend killed by a signal, fails
# when it should: on a log that shows one after the offset it is given, and
# not on one that shows none there (the server log of the running cluster
# is left alone: these are logs written here).
set -uo pipefail
crashes="$(dirname "$0")/../crashes"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

{
  echo "2026-12-06 01:00:00.000 UTC [100] LOG:  database system is ready to accept connections"
  echo "2026-12-06 01:00:01.000 UTC [100] LOG:  server process (PID 4242) was terminated by signal 11: Segmentation fault"
  echo "2026-12-06 01:00:01.000 UTC [100] DETAIL:  Failed process was running: SELECT 1"
} >"$dir/crash.log"
before=$(head -n 1 "$dir/crash.log" | wc -c)
after=$(stat -c %s "$dir/crash.log")

out=$("$crashes" "$dir/crash.log" 2>&1)
rc=$?
if ((rc == 1)) && grep -q '^not ok a backend was terminated by a signal' <<<"$out" &&
  grep -q 'PID 4242' <<<"$out"; then
  echo "ok test/crashes fails on a log that shows a backend killed by signal 11, and quotes the line"
else
  echo "not ok test/crashes on a log with a crash: exit $rc, output: $out"
fi

out=$("$crashes" "$dir/crash.log" "$before" 2>&1)
rc=$?
if ((rc == 1)); then
  echo "ok test/crashes fails on a crash after the offset it is given"
else
  echo "not ok test/crashes missed a crash after offset $before: exit $rc"
fi

out=$("$crashes" "$dir/crash.log" "$after" 2>&1)
rc=$?
if ((rc == 0)) && grep -q '^ok no backend was terminated' <<<"$out"; then
  echo "ok test/crashes passes when the part of the log it reads shows no crash"
else
  echo "not ok test/crashes on the part after the crash: exit $rc, output: $out"
fi

out=$("$crashes" "$dir/missing.log" 2>&1)
rc=$?
if ((rc == 1)); then
  echo "ok test/crashes fails when the log cannot be read"
else
  echo "not ok test/crashes passed without a log: $out"
fi
