#!/usr/bin/env bash
# The layer check (test/layers, run by every build) passes on the tree and
# fails on each kind of forbidden include, added to a copy of the sources.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if out=$("$top/test/layers" "$top"); then
  echo "ok the sources keep to their layers"
else
  echo "not ok the sources break their layers:"
  sed 's/^/#   /' <<<"$out"
fi

# file | line added | what the check must say
while IFS='|' read -r file line expect; do
  rm -f "$tmp"/*
  cp "$top"/*.[ch] "$tmp/"
  sed -i "0,/^#include \"postgres.h\"/s||#include \"postgres.h\"\\n$line|" "$tmp/$file" 2>/dev/null
  [[ $file == *.h ]] && sed -i "0,/^#define SEGMENT_[A-Z_]*_H$/s||&\\n$line|" "$tmp/$file"
  if out=$("$top/test/layers" "$tmp"); then
    echo "not ok the check takes $line in $file"
  elif grep -qF -- "$expect" <<<"$out"; then
    first=${out%%$'\n'*}
    echo "ok the check refuses $line in $file (says: ${first#not ok })"
  else
    echo "not ok the check refuses $line in $file, but says: ${out//$'\n'/; }"
  fi
done <<'CASES'
http.c|#include "segment_fetch.h"|http.c (layer 2, http) includes segment_fetch.h (layer 4, fetch)
request.c|#include "segment_fetch.h"|request.c (layer 4, request) includes segment_fetch.h (layer 4, fetch)
segment_api.h|#include "segment_http.h"|segment_api.h (layer 1, api) includes segment_http.h (layer 2, http)
fetch.c|#include <curl/curl.h>|fetch.c includes <curl/curl.h>: libcurl belongs to http.c url.c
segment_fdw.c|#include <json-c/json.h>|segment_fdw.c includes <json-c/json.h>: json-c belongs to response.c list_details.c
segment_fdw.c|#include "segment_json.h"|segment_fdw.c includes segment_json.h, which only response.c list_details.c may include
CASES

rm -f "$tmp"/*
cp "$top"/*.[ch] "$tmp/"
touch "$tmp/extra.c"
if out=$("$top/test/layers" "$tmp") || ! grep -qF "extra.c is in no layer" <<<"$out"; then
  echo "not ok a new file in no layer passes the check"
else
  first=${out%%$'\n'*}
  echo "ok a new file must be placed in a layer (says: ${first#not ok })"
fi
