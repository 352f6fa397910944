#!/usr/bin/env bash
# Fuzz the response parser for a short fixed time (FUZZ_SECONDS, default
# 30): no crash, no sanitizer report, no leak.
set -uo pipefail
seconds=${FUZZ_SECONDS:-30}
out=$("$(dirname "$0")/../fuzz/run" "$seconds" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
runs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' <<<"$out")
if ((rc == 0)) && [[ -n $runs ]]; then
  echo "ok fuzzing the response parser for ${seconds} s: $runs inputs, no crash or leak"
else
  echo "not ok fuzzing the response parser (exit $rc)"
fi
