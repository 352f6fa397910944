#!/usr/bin/env python3
"""Stand-in for Braze's GET /segments/data_series, /segments/list and /segments/details (tests).

Usage: standin.py --port-file FILE [--port N] [--latency-ms N] [--tls-cert C --tls-key K] [--log F]
Listens on 127.0.0.1 only (port 0 = ephemeral) and writes the port to FILE atomically once
listening.  Python 3.11 standard library only.  Exits cleanly on SIGTERM / SIGINT.

Auth: "Authorization: Bearer regress-key" (or regress-key-<anything>) passes; "Bearer regress-noperm" -> 403 Access Denied;
anything else (missing, not "Bearer ", other key) -> 401 Invalid API key.  Auth comes first.
Then each endpoint's permission: key regress-key-noseries -> 403 Access Denied on data_series
only, regress-key-nolist on list only, regress-key-nodetails on details only.

GET /segments/data_series?segment_id=S&length=L[&ending_at=E]
  * S required (400), L integer 1..100 (400), E = YYYY-MM-DD or ISO-8601 timestamp (offsets like
    -05:00, -5:00, Z); the end day is the date part as written; missing -> today (UTC).
  * 200 {"message": "success", "data": [{"time": "YYYY-MM-DD", "size": N}, ...]} for the days
    E-L .. E-1 (ending_at day excluded, as observed on the real API), ascending, only days up to
    yesterday (UTC).  size = 0 before 2020-01-01, else days_since_2020_01_01 * 10 +
    (sum of S's UTF-8 bytes) % 1000.
  * Every data_series response has Content-Type and X-RateLimit-Limit/-Remaining/-Reset headers;
    Remaining starts at 249999 and drops by one per request (value reported, then decremented).
  * Faults by magic segment_id (after auth and validation): http-NNN, html-502, message-error,
    not-json, truncated, trailing-garbage, data-not-array, data-missing, not-object,
    row-not-object, bad-time, bad-time-format, bad-time-bytes, size-negative, nul-in-comment,
    message-bytes,
    time-missing, time-not-string, size-float, redirect (302 to a file: URL), endless (a body
    without Content-Length that never ends),
    size-string, size-null, size-missing, size-huge, empty, slow-MS, stall-body, reset, echo-key,
    days-repeated (every row twice in a row), days-descending (the rows newest first),
    days-shuffled (rows 0, 2, 4, ... then the odd ones from the last back; the same every time),
    flaky-N-SSS (first N requests with that exact query string fail with SSS; a 429 then says
    X-RateLimit-Reset = now + 1 s), retryafter-N (first N requests: 429 with Retry-After: 1 and
    a reset an hour away), rows-N, huge-N; and the issue-9 boundary ids (echo-key-at-N,
    long-message-N, utf8-message, bad-utf8, max-rows-N, heavy-rows-N, bad-tail-N, big-member-N:
    see the block "issue 9: boundaries").

The workspace's segment catalog (list and details), the same on every run: segments i = 1..N,
N = 230 by default (/__control/set?catalog=N, 0..100000; reset restores 230).  Segment i:
  * id "cat-%04d" % i (cat-0001 ... cat-0230); created_at 2020-01-01T12:00:00Z + (i - 1) days, so
    ascending with i (oldest first); updated_at = created_at + (i % 5) days + 6 h 30 min.
  * archived when i % 25 == 0: never listed, but details still answered.  So a catalog of N lists
    N - N // 25 segments: by default 221 listed (pages 0 and 1 full, page 2 holds 21: cat-0209 ..
    cat-0230 without cat-0225, page 3 empty) and 9 archived (cat-0025, 0050, ..., 0225).
    catalog=208 (or catalog_listed=200) lists exactly 200: two full pages, page 2 empty.
  * name by i % 10: 0 "Trial %04d" (19 listed by default: 23 minus the archived 50, 100, 150,
    200), 3 "Café 🎉 %04d", 5 "Free Trial %04d" (does not start with "Trial"), 7 "Lapsed users"
    (the same name every time), 9 'Quote " and \\ %04d' (a double quote and a backslash),
    else "Segment %04d"; e.g. cat-0003 "Café 🎉 0003", cat-0010 "Trial 0010".
  * analytics_tracking_enabled = i % 4 in (0, 1) (true for cat-0001, false for 0002 and 0003).
  * tags, in this order: "vip" if i % 3 == 0, "weekly" if i % 4 == 0, "beta" if i % 7 == 0,
    "été" if i % 11 == 0; else [].  By default listed: 73 vip, 55 weekly, 31 beta, 20 été,
    89 with no tag, 44 with several; listed Trial and vip: cat-0030, 0060, 0090, 0120, 0180, 0210.
  * teams by i % 5: 2 ["Growth"], 4 ["Growth", "Équipe CRM"], else [].
  * description by i % 5: 0 null, 1 "" (empty), else "About cat-%04d".
    text_description: null for even i, else "Filter for cat-%04d".
  Catalog bodies carry non-ASCII text as raw UTF-8 (not \\u escapes).

GET /segments/list[?page=P][&sort_direction=asc|desc]
  * P a non-negative integer of at most 9 digits (default 0), else 400; sort_direction asc (the
    default) or desc, else 400.  Other parameters are ignored.
  * 200 {"message": "success", "segments": [{"id": "cat-0001", "name": "Segment 0001",
    "analytics_tracking_enabled": true, "tags": []}, ...]}: the listed (not archived) segments,
    ascending by i for asc, descending for desc, 100 a page; page 0 asc starts cat-0001,
    cat-0002, cat-0003, desc starts cat-0230, cat-0229, cat-0228.  A page past the last: [].
  * Faults per page, set by /__control/set?list_fault_page=P&list_fault=KIND[&list_fault_times=K]:
    the first K requests for page P (either direction; K defaults to every request) answer
    KIND, after auth and validation, instead of the page; then the page answers normally.
    Several pages may each have a fault; list_fault=none (or empty) clears page P's; reset
    clears all.  KIND: http-NNN (200..599: a JSON error as data_series' http-NNN, but a 429
    here says Remaining 0 and X-RateLimit-Reset = now + 1 s), ratelimit-hour (429, reset at the
    next hour), retryafter (429 with Retry-After: 1, reset at the next hour), html-502,
    not-json, not-object, message-bytes, echo-key, reset, slow-MS (the page after MS ms),
    truncated (the page's body cut to its first 40 bytes), message-error ({"message": "export
    failed", "segments": []}), segments-missing, segments-not-array, empty (an empty segments
    array), and on the page's last segment (a page without one gets segment 1's, then the
    fault): segment-not-object (42), id-missing, id-not-string (1234), id-null, name-missing,
    name-not-string (42), tags-not-array ("vip"), tag-not-string (["vip", 7]),
    tracking-not-bool ("true"), tracking-missing.

GET /segments/details?segment_id=S
  * S required (400).  A catalog id (archived ones too): 200 {"message": "success",
    "created_at": "2020-01-01T12:00:00Z", "updated_at": "2020-01-02T18:30:00Z", "name":
    "Segment 0001", "description": "", "text_description": "Filter for cat-0001", "tags": [],
    "teams": []} (that is cat-0001).  Any other id that is not a magic one below: 404
    {"message": "Segment not found"} (so is cat-0231 in the default catalog, and cat-1).
  * Magic segment ids (after auth and validation), as for data_series: http-NNN (200..599; a
    429 resets at the next hour), html-502, not-json, not-object, message-bytes, echo-key, reset,
    flaky-N-SSS, retryafter-N, slow-MS, truncated (cut to 40 bytes), message-error
    ({"message": "export failed"}); also ratelimit-hour and retryafter (always a 429, as for
    list).  When such an id answers 200 (slow-MS, flaky-N-SSS and retryafter-N once they
    stop failing), the body is cat-0001's details with "name" = the id.  details-* ids give
    cat-0001's details with "name" = the id, then: details-bad-created (created_at "not a
    timestamp"), details-bad-updated (updated_at "2020-02-30T12:00:00Z"),
    details-created-zoneless (created_at "2020-01-01T12:00:00"), details-created-now ("now"),
    details-created-missing, details-created-null, details-created-offset (created_at
    "2020-01-01T14:00:00+02:00": valid, the same instant as cat-0001's), details-missing-name,
    details-name-not-string (42), details-description-not-string (5), details-tags-not-array
    ("vip"), details-tag-not-string (["vip", 7]), details-teams-not-array ("Growth"),
    details-huge (a description of 70,000 bytes: a body over 64 kB).

The three endpoints share the request log, the stats, latency_ms and the one X-RateLimit-Remaining
count (one workspace limit); fail_every counts data_series requests only.  A list request is
logged with segment_id= empty.
Other paths -> 404 JSON; other methods on the three endpoints -> 405 JSON.

Control endpoints (no auth, always "Connection: close"):
  GET /__control/requests[?sort=1][&ua=1][&times=1]  API request log, one line each:
      [<arrival epoch ms>\t]<raw target>\tsegment_id=<decoded>[\tua=<User-Agent>\tauth=...]
  GET /__control/stats                    "requests=N connections=N max_in_flight=N proxied=N"
      (proxied: requests whose target was an absolute URL, as a forward proxy is asked; such a
      request is answered as if to its path)
  POST|GET /__control/reset                clear log, counters, flaky state, remaining, latency;
                                           catalog back to 230 segments, no list faults
  GET /__control/set?remaining=N&latency_ms=N&fail_every=K&fail_status=S&enforce_budget=0|1
      fail_every: every Kth data_series request answers S (503 by default; a 429 resets in 1 s)
      enforce_budget=1: a request that finds remaining at 0 answers 429 (Remaining 0, the reset
      at the next hour), as Braze does when the workspace's hourly budget is spent; off by
      default and after reset
  GET /__control/set?revise=S,YYYY-MM-DD,N[&revise=...]
      from now on data_series gives segment S the size N on that day, as when Braze revises an
      estimate (the id is everything before the last two commas); reset forgets revisions
  GET /__control/set?catalog=N | catalog_listed=M (the smallest catalog listing M segments)
      &list_fault_page=P&list_fault=KIND&list_fault_times=K   (see /segments/list)

Every response is written with a single sendall (headers + body), with Content-Length.
"""

import argparse, calendar, datetime as dt, email.utils, functools, http, http.server, json
import os, re, select, signal, socketserver, ssl, sys, threading, time, traceback, urllib.parse

DS_PATH = "/segments/data_series"
RATE_LIMIT = 250000
REMAINING_START = 249999
EPOCH_ORD = dt.date(2020, 1, 1).toordinal()
MAX_ROWS = 2_900_000
HTML_502 = (b"<html><head><title>502 Bad Gateway</title></head>"
            b"<body><h1>502 Bad Gateway</h1></body></html>")

# YYYY-MM-DD, optionally followed by a time and an offset (Z, +HH:MM, -H:MM, +HHMM, +HH).
ENDING_AT_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?"
    r"(?:[Zz]|[+-]([0-9]{1,2})(?::?([0-9]{2}))?)?)?", re.ASCII)

# Faults that alter the last row of an otherwise normal success body.
LAST_ROW_FAULTS = {
    "bad-time": lambda r: r.update(time="2024-13-45"),
    "bad-time-format": lambda r: r.update(time="01/02/2024"),
    "time-missing": lambda r: r.pop("time"),
    "time-not-string": lambda r: r.update(time=20240101),
    "size-float": lambda r: r.update(size=12.5),
    "size-string": lambda r: r.update(size="123"),
    "size-null": lambda r: r.update(size=None),
    "size-missing": lambda r: r.pop("size"),
    "size-huge": lambda r: r.update(size=99999999999999999999),  # json.dumps writes it literally
}
# Faults that reorder or repeat the rows of an otherwise normal success body.
ROW_ORDER_FAULTS = {
    "days-repeated": lambda rows: [r for r in rows for _ in (0, 1)],   # each day twice in a row
    "days-descending": lambda rows: rows[::-1],
    # the same order on every run: even positions first, then the odd ones reversed
    "days-shuffled": lambda rows: rows[0::2] + rows[1::2][::-1],
}
FIXED_BODIES = {
    "message-error": b'{"message": "export failed", "data": []}',
    "not-json": b"this is not json",
    "data-not-array": b'{"message": "success", "data": {"time": "2024-01-01", "size": 1}}',
    "data-missing": b'{"message": "success"}',
    "not-object": b"[1, 2, 3]",
    "row-not-object": b'{"message": "success", "data": [42]}',
    "empty": b'{"message": "success", "data": []}',
    # a time with an escaped NUL and bytes that are not UTF-8, raw in the string
    "bad-time-bytes": b'{"message": "success", "data": [{"time": "2024\\u0000-01\xff\xfe-01", "size": 1}]}',
    "size-negative": b'{"message": "success", "data": [{"time": "2024-01-01", "size": -5}]}',
    # a raw NUL in a comment: json-c reports the first row whole and reads on after the NUL
    "nul-in-comment": b'{"message": "success", "data": [{"time": "2024-01-01", "size": 1}/*\x00, '
                      b'{"time": "2024-01-02", "size": 2}]}',
}
# error bodies: status and bytes
FIXED_ERRORS = {
    # a message with an escaped NUL, a control character, invalid UTF-8 and valid non-ASCII
    "message-bytes": (500, b'{"message": "bad\\u0000 \\u0007news \xc3\xa9t\xe9 \xff", "errors": []}'),
}


def jbytes(obj):
    return json.dumps(obj).encode("utf-8")


def utc_today():
    return dt.datetime.now(dt.timezone.utc).date()


def reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def next_hour_epoch():
    """The next top of the hour at least 10 minutes away.  Braze's hourly window resets on the
    hour; a reset seconds away would fit in max_retry_wait_ms (60 s at most by default), so a
    test that expects a far reset would pass or fail by the minute it ran in."""
    return (int(time.time()) + 600) // 3600 * 3600 + 3600


def parse_ending_at(text):
    """Return the date part of an ISO-8601 date/timestamp, or None when it is not valid."""
    m = ENDING_AT_RE.fullmatch(text)
    if not m:
        return None
    try:
        day = dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    if m[4] is not None and (int(m[4]) > 23 or int(m[5]) > 59 or int(m[6] or 0) > 60):
        return None
    if m[7] is not None and (int(m[7]) > 23 or int(m[8] or 0) > 59):
        return None
    return day


def series_rows(segment_id, end_day, length):
    """Rows for the days end_day-length .. end_day-1, capped at yesterday (UTC)."""
    weight = sum(segment_id.encode("utf-8", "surrogatepass")) % 1000
    first = max(1, end_day.toordinal() - length)
    last = min(end_day.toordinal() - 1, utc_today().toordinal() - 1)
    return [{"time": dt.date.fromordinal(o).isoformat(),
             "size": 0 if o < EPOCH_ORD else (o - EPOCH_ORD) * 10 + weight}
            for o in range(first, last + 1)]


_MONTH_DAYS = {leap: [f"{m:02d}-{d:02d}" for m in range(1, 13)
                      for d in range(1, calendar.monthrange(2000 if leap else 2001, m)[1] + 1)]
               for leap in (False, True)}


def synthetic_rows(n):
    """n JSON row texts, one per day from 2000-01-01 ascending, size = 0-based index."""
    out, year = [], 2000
    while len(out) < n:
        mds = _MONTH_DAYS[calendar.isleap(year)][:n - len(out)]
        fmt = f'{{"time": "{year:04d}-%s", "size": %d}}'
        out.extend(map(fmt.__mod__, zip(mds, range(len(out), len(out) + len(mds)))))
        year += 1
    return out


@functools.lru_cache(maxsize=2)
def rows_body(n):
    rows = ", ".join(synthetic_rows(min(n, MAX_ROWS)))
    return ('{"message": "success", "data": [' + rows + "]}").encode("ascii")


def huge_body(nbytes):
    return rows_body(max(1, nbytes // 38))   # a row is ~38 bytes with its separator


# ---- issue 9: boundaries ---------------------------------------------------------------------
# Bodies for the limits on remote text, memory, parsing time and encoding (data_series only;
# magic segment ids, after auth and validation; N is a byte count, at most 400,000,000):
#   echo-key-at-N    401, text/plain: N bytes of "x", the caller's key, then 300 bytes of "y"
#                    (the key across the 200-byte excerpt's edge when N is near 200)
#   echo-key-twice-N 401, text/plain: the key, N bytes of "x", the key again, 300 bytes of "y"
#                    (the first echo, masked, makes room for the second one in the excerpt)
#   long-message-N   400 {"message": "<N characters: 0123456789 repeated>"}
#   utf8-message     500 {"message": "café 🎉 naïve"} in raw UTF-8
#   bad-utf8         200 a success body whose extra member "note" holds the byte 0xE9 (not
#                    UTF-8) at byte 80
#   max-rows-N       200 at most N bytes of compact rows, as many as fit, one per day from
#                    0001-01-01 ascending (at most 3,652,059: up to 9999-12-31), size = index
#   heavy-rows-N     200 at most N bytes of rows, each with a member "x" of about 60,000 bytes
#                    of empty objects [{},{},...] (the dearest JSON json-c can be given whole)
#   bad-tail-N       200 max-rows-N, then one more row whose time is "2024-13-45"
#   big-member-N     200 one row, then a member "x" of N bytes of empty objects
BOUNDARY_MAX = 400_000_000
COMPACT_DAY0 = dt.date(1, 1, 1).toordinal()
HEAVY_X = "[" + ",".join(["{}"] * 20000) + "]"          # 59,999 bytes


@functools.lru_cache(maxsize=20)
def compact_rows(nbytes):
    """Compact rows, one per day from 0001-01-01, as many as fit in nbytes with the envelope."""
    head, tail = b'{"message":"success","data":[', b"]}"
    budget, out, i = nbytes - len(head) - len(tail), [], 0
    last = dt.date(9999, 12, 31).toordinal() - COMPACT_DAY0
    while i <= last:
        row = '{"time":"%s","size":%d}' % (dt.date.fromordinal(COMPACT_DAY0 + i).isoformat(), i)
        if budget < len(row) + (1 if out else 0):
            break
        budget -= len(row) + (1 if out else 0)
        out.append(row)
        i += 1
    return head, ",".join(out).encode("ascii"), tail


@functools.lru_cache(maxsize=20)       # memory_bounds.sh asks for 16 bodies of 8 MB at once
def boundary_body_cached(kind, n):
    if kind == "max-rows":
        head, rows, tail = compact_rows(n)
        return head + rows + tail
    if kind == "bad-tail":
        head, rows, tail = compact_rows(n)
        return head + rows + b',{"time":"2024-13-45","size":1}' + tail
    if kind == "heavy-rows":
        rows, size = [], 31
        while True:
            row = '{"time":"%s","size":%d,"x":%s}' % (
                dt.date.fromordinal(EPOCH_ORD + len(rows)).isoformat(), len(rows), HEAVY_X)
            if size + len(row) + 1 > n:
                break
            size += len(row) + 1
            rows.append(row)
        return ('{"message":"success","data":[' + ",".join(rows) + "]}").encode("ascii")
    if kind == "big-member":
        objs = ",".join(["{}"] * max(1, (n - 2) // 3))
        return ('{"message":"success","data":[{"time":"2024-01-01","size":1}],"x":['
                + objs + "]}").encode("ascii")
    return None


def boundary_response(seg, key):
    """(status, body, content type) for an issue-9 magic id, or None."""
    if seg == "utf8-message":
        return 500, ubytes({"message": "café 🎉 naïve"}), "application/json"
    if seg == "bad-utf8":
        return 200, (b'{"message": "success", "data": [{"time": "2024-01-01", "size": 1}], '
                     b'"note": "caf\xe9"}'), "application/json"
    m = re.fullmatch(r"(echo-key-at|echo-key-twice|long-message|max-rows|heavy-rows|bad-tail|big-member)-"
                     r"([0-9]{1,9})", seg, re.ASCII)
    if not m or int(m[2]) > BOUNDARY_MAX:
        return None
    kind, n = m[1], int(m[2])
    if kind == "echo-key-at":
        return 401, b"x" * n + key.encode("utf-8") + b"y" * 300, "text/plain"
    if kind == "echo-key-twice":
        k = key.encode("utf-8")
        return 401, k + b"x" * n + k + b"y" * 300, "text/plain"
    if kind == "long-message":
        text = ("0123456789" * (n // 10 + 1))[:n]
        return 400, jbytes({"message": text}), "application/json"
    return 200, boundary_body_cached(kind, n), "application/json"


# ---- the workspace's segment catalog: /segments/list and /segments/details -------------------
LIST_PATH = "/segments/list"
DETAILS_PATH = "/segments/details"
CATALOG_DEFAULT = 230            # segments in the catalog after a reset
CATALOG_MAX = 100000
ARCHIVE_EVERY = 25               # segment i is archived when i % 25 == 0
PAGE_SIZE = 100
CATALOG_T0 = dt.datetime(2020, 1, 1, 12, 0, 0)   # created_at of segment 1 (UTC)
TEAMS = ([], [], ["Growth"], [], ["Growth", "Équipe CRM"])   # by i % 5


def ubytes(obj):
    """JSON with its non-ASCII text as raw UTF-8, as the catalog endpoints send it."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def catalog_id(i):
    return f"cat-{i:04d}"


def catalog_index(seg, n):
    """The 1-based index of catalog id seg in a catalog of n segments, or None."""
    m = re.fullmatch(r"cat-([0-9]{4,6})", seg, re.ASCII)
    i = int(m[1]) if m else 0
    return i if 1 <= i <= n and catalog_id(i) == seg else None


def catalog_name(i):
    if i % 10 == 0:
        return f"Trial {i:04d}"
    if i % 10 == 3:
        return f"Café 🎉 {i:04d}"
    if i % 10 == 5:
        return f"Free Trial {i:04d}"
    if i % 10 == 7:
        return "Lapsed users"
    if i % 10 == 9:
        return f'Quote " and \\ {i:04d}'
    return f"Segment {i:04d}"


def catalog_tags(i):
    return [t for t, k in (("vip", 3), ("weekly", 4), ("beta", 7), ("été", 11)) if i % k == 0]


def list_record(i):
    return {"id": catalog_id(i), "name": catalog_name(i),
            "analytics_tracking_enabled": i % 4 in (0, 1), "tags": catalog_tags(i)}


def details_record(i):
    created = CATALOG_T0 + dt.timedelta(days=i - 1)
    updated = created + dt.timedelta(days=i % 5, hours=6, minutes=30)
    return {"message": "success",
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "name": catalog_name(i),
            "description": None if i % 5 == 0 else "" if i % 5 == 1 else f"About {catalog_id(i)}",
            "text_description": None if i % 2 == 0 else f"Filter for {catalog_id(i)}",
            "tags": catalog_tags(i),
            "teams": list(TEAMS[i % 5])}


def listed_count(n):
    """Segments listed (not archived) in a catalog of n."""
    return n - n // ARCHIVE_EVERY


def listed_index(k):
    """The catalog index of the k-th (0-based) listed segment, oldest first."""
    return k + k // (ARCHIVE_EVERY - 1) + 1


def catalog_for_listed(m):
    """The smallest catalog that lists exactly m segments."""
    return listed_index(m - 1) if m > 0 else 0


def list_page(n, page, descending):
    """The catalog indexes on one page of /segments/list for a catalog of n segments."""
    total = listed_count(n)
    ks = range(min(page * PAGE_SIZE, total), min(page * PAGE_SIZE + PAGE_SIZE, total))
    return [listed_index(total - 1 - k if descending else k) for k in ks]


# list faults that alter the last segment of the page
LIST_RECORD_FAULTS = {
    "id-missing": lambda r: r.pop("id"),
    "id-not-string": lambda r: r.update(id=1234),
    "id-null": lambda r: r.update(id=None),
    "name-missing": lambda r: r.pop("name"),
    "name-not-string": lambda r: r.update(name=42),
    "tags-not-array": lambda r: r.update(tags="vip"),
    "tag-not-string": lambda r: r.update(tags=["vip", 7]),
    "tracking-not-bool": lambda r: r.update(analytics_tracking_enabled="true"),
    "tracking-missing": lambda r: r.pop("analytics_tracking_enabled"),
}
LIST_BODIES = {
    "message-error": b'{"message": "export failed", "segments": []}',
    "segments-missing": b'{"message": "success"}',
    "segments-not-array": b'{"message": "success", "segments": {"id": "cat-0001"}}',
    "empty": b'{"message": "success", "segments": []}',
}
# details faults (magic segment ids) that alter segment 1's details
DETAILS_FAULTS = {
    "details-bad-created": lambda d: d.update(created_at="not a timestamp"),
    "details-bad-updated": lambda d: d.update(updated_at="2020-02-30T12:00:00Z"),
    "details-created-missing": lambda d: d.pop("created_at"),
    "details-created-null": lambda d: d.update(created_at=None),
    "details-created-offset": lambda d: d.update(created_at="2020-01-01T14:00:00+02:00"),
    "details-created-zoneless": lambda d: d.update(created_at="2020-01-01T12:00:00"),
    "details-created-now": lambda d: d.update(created_at="now"),
    "details-missing-name": lambda d: d.pop("name"),
    "details-name-not-string": lambda d: d.update(name=42),
    "details-description-not-string": lambda d: d.update(description=5),
    "details-tags-not-array": lambda d: d.update(tags="vip"),
    "details-tag-not-string": lambda d: d.update(tags=["vip", 7]),
    "details-teams-not-array": lambda d: d.update(teams="Growth"),
    "details-huge": lambda d: d.update(description="x" * 70000),
}
DETAILS_BODIES = {
    "message-error": b'{"message": "export failed"}',
}
# faults of both endpoints, answered by catalog_fault()
CATALOG_FAULT_RE = re.compile(r"http-([0-9]{3})|slow-([0-9]+)|ratelimit-hour|retryafter|"
                              r"html-502|not-json|not-object|echo-key|reset|message-bytes",
                              re.ASCII)


def catalog_fault_match(kind):
    """The match of a fault both catalog endpoints know (an http-NNN only for 200..599)."""
    m = CATALOG_FAULT_RE.fullmatch(kind)
    return m if m and (not m[1] or 200 <= int(m[1]) <= 599) else None


def valid_list_fault(kind):
    return (kind in LIST_RECORD_FAULTS or kind in LIST_BODIES
            or kind in ("segment-not-object", "truncated") or bool(catalog_fault_match(kind)))


class State:
    """Counters and logs shared by all handler threads (guarded by self.lock)."""

    def __init__(self, latency_ms):
        self.lock = threading.Lock()
        self.default_latency_ms = latency_ms
        self.in_flight = 0
        self.reset()

    def reset(self):
        with self.lock:
            self.log = []            # (target, segment_id, user_agent, auth summary)
            self.requests = 0
            self.connections = 0
            self.max_in_flight = 0
            self.proxied = 0         # requests asked in absolute form, as of a proxy
            self.remaining = REMAINING_START
            self.latency_ms = self.default_latency_ms
            self.flaky = {}          # raw query string -> failures served
            self.counter = 0         # data_series requests, for fail_every
            self.fail_every = 0
            self.fail_status = 503
            self.enforce_budget = False  # answer 429 once remaining is 0
            self.catalog = CATALOG_DEFAULT   # segments in the catalog (list and details)
            self.list_faults = {}    # list page -> [kind, times or None, failures served]
            self.revisions = {}      # segment id -> {day: size}, sizes revised upstream
            self.generation = getattr(self, "generation", 0) + 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "braze-standin/1.0"
    timeout = 600                    # idle keep-alive connections are dropped after this

    # ---- connection plumbing -------------------------------------------------------------
    def setup(self):
        # Count the connection as soon as it is accepted (in its own thread).  It is uncounted
        # again if its first request is a control request, so that a test's own "reset" and
        # "stats" calls never show up in connections=N.
        st = self.server.state
        with st.lock:
            st.connections += 1
            self.generation = st.generation
        self.control_only = True
        self.dead = False
        self.flight = False
        if isinstance(self.request, ssl.SSLSocket):
            try:                     # TLS handshake here, in the connection's own thread
                self.request.settimeout(10)
                self.request.do_handshake()
            except (OSError, ValueError):
                self.dead = True
        super().setup()

    def handle(self):
        if self.dead:
            return
        try:
            super().handle()
        except OSError:              # disconnects, resets, TLS errors, timeouts
            self.close_connection = True

    def log_message(self, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        """Malformed requests / unknown methods: JSON error, then close (one sendall)."""
        self.reply(code, jbytes({"message": message or reason(code)}), close=True)

    def reply(self, status, body, ctype="application/json", headers=(), close=False,
              content_length=None):
        """Write status line, headers and body with one sendall."""
        if close:
            self.close_connection = True
        lines = [f"HTTP/1.1 {status} {reason(status)}",
                 f"Server: {self.server_version}",
                 f"Date: {email.utils.formatdate(usegmt=True)}",
                 f"Content-Type: {ctype}",
                 f"Content-Length: {len(body) if content_length is None else content_length}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if getattr(self, "command", None) == "HEAD":
            body = b""
        # The client may send its next request as soon as it has this
        # response, possibly before this thread runs again: the request
        # leaves the in-flight count before the response goes out.
        self.end_flight()
        self.wfile.write(head + body)
        self.server.log(f"{getattr(self, 'requestline', '')} -> {status}")

    def drain_request_body(self):
        """Read (and discard) any request body so keep-alive stays in sync."""
        length = self.headers.get("Content-Length", "0").strip()
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True   # chunked/odd uploads are not supported: don't reuse
            return
        left = int(length)
        while left > 0 and (chunk := self.rfile.read(min(left, 65536))):
            left -= len(chunk)
        self.close_connection |= left > 0

    # ---- routing ---------------------------------------------------------------------------
    def do_GET(self):
        self.drain_request_body()
        target = self.path
        if target.startswith(("http://", "https://")):
            # absolute form: asked as a forward proxy (a server's option proxy)
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
            with self.server.state.lock:
                self.server.state.proxied += 1
        path, _, query = target.partition("?")   # raw query: parse_qs decodes it later
        try:
            if path.startswith("/__control/"):
                self.uncount_connection()
                return self.control(path[len("/__control/"):], query)
            self.control_only = False     # real traffic: keep this connection counted
            if path == DS_PATH and self.command == "GET":
                self.data_series(target, query)
            elif path in (LIST_PATH, DETAILS_PATH) and self.command == "GET":
                self.data_series(target, query, self.list_response if path == LIST_PATH
                                 else self.details_response)
            elif path in (DS_PATH, LIST_PATH, DETAILS_PATH):
                self.reply(405, jbytes({"message": "Method Not Allowed"}),
                           headers=[("Allow", "GET")])
            else:
                self.reply(404, jbytes({"message": "Not Found"}))
        except OSError:
            raise
        except Exception:            # a bug here: report it, keep serving
            traceback.print_exc()
            self.reply(500, jbytes({"message": "stand-in internal error"}), close=True)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # ---- control endpoints -----------------------------------------------------------------
    def uncount_connection(self):
        st = self.server.state
        with st.lock:
            st.connections -= self.control_only and self.generation == st.generation
        self.control_only = False

    def control(self, name, query):
        st = self.server.state
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        flag = lambda k: q.get(k, ["0"])[0] not in ("", "0")
        text = lambda status, s: self.reply(status, s.encode("utf-8"),
                                            "text/plain; charset=utf-8", close=True)
        if name == "reset" and self.command in ("GET", "POST"):
            st.reset()               # also zeroes connections, incl. this control connection
            return text(200, "ok\n")
        if self.command != "GET":
            return text(405, "method not allowed\n")
        if name == "stats":
            with st.lock:
                line = (f"requests={st.requests} connections={st.connections} "
                        f"max_in_flight={st.max_in_flight} proxied={st.proxied}\n")
            return text(200, line)
        if name == "requests":
            with st.lock:
                entries = list(st.log)
            esc = lambda v: v.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            lines = [(f"{ms}\t" if flag("times") else "")
                     + f"{target}\tsegment_id={esc(seg)}" + (f"\tua={esc(ua)}\tauth={auth}"
                                                            if flag("ua") else "")
                     for target, seg, ua, auth, ms in entries]
            if flag("sort"):
                lines.sort()
            return text(200, "".join(line + "\n" for line in lines))
        if name == "set":
            catalog = self.parse_catalog_settings(q)   # catalog size and list faults
            if isinstance(catalog, str):
                return text(400, catalog)
            try:
                rem = int(q["remaining"][0]) if "remaining" in q else None
                lat = int(q["latency_ms"][0]) if "latency_ms" in q else None
                every = int(q["fail_every"][0]) if "fail_every" in q else None
                status = int(q["fail_status"][0]) if "fail_status" in q else None
                enforce = int(q["enforce_budget"][0]) if "enforce_budget" in q else None
                revise = [(seg, dt.date.fromisoformat(day).isoformat(), int(size))
                          for seg, day, size in (v.rsplit(",", 2) for v in q.get("revise", []))]
            except ValueError:
                return text(400, "bad value\n")
            with st.lock:
                st.remaining = st.remaining if rem is None else max(0, rem)
                st.latency_ms = st.latency_ms if lat is None else max(0, lat)
                st.fail_every = st.fail_every if every is None else max(0, every)
                st.fail_status = st.fail_status if status is None else status
                st.enforce_budget = st.enforce_budget if enforce is None else bool(enforce)
                for seg, day, size in revise:
                    st.revisions.setdefault(seg, {})[day] = size
                catalog(st)
            return text(200, "ok\n")
        return text(404, "unknown control endpoint\n")

    # ---- data_series -----------------------------------------------------------------------
    def end_flight(self):
        """The request is answered (or abandoned): leave the in-flight count once."""
        if self.flight:
            self.flight = False
            with self.server.state.lock:
                self.server.state.in_flight -= 1

    def data_series(self, target, query, respond=None):
        """Count, log and delay an API request (of any of the three endpoints), then answer it
        with respond (data_series_response by default)."""
        st = self.server.state
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        seg = params.get("segment_id", [""])[0]
        auth = self.headers.get("Authorization")
        auth_summary = ("missing" if auth is None else
                        "Bearer ***" if auth.startswith("Bearer ") and len(auth) > 7 else
                        "malformed")
        with st.lock:
            st.requests += 1
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
            remaining = st.remaining
            st.remaining = max(0, remaining - 1)
            spent = st.enforce_budget and remaining == 0
            latency_ms = st.latency_ms
            st.log.append((target, seg, self.headers.get("User-Agent", ""), auth_summary,
                           int(time.time() * 1000)))
        self.flight = True
        try:
            if latency_ms > 0 and not self.wait_unless_gone(latency_ms / 1000):
                return
            if spent:
                return self.api_send(429, jbytes({"message": "rate limited"}), 0,
                                     reset=next_hour_epoch())
            (respond or self.data_series_response)(query, params, seg, auth, remaining)
        finally:
            self.end_flight()

    def wait_unless_gone(self, seconds):
        """Sleep for seconds; False (and the connection closed) if the client hung up first,
        so an aborted request stops counting as in flight at once."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.connection], [], [], min(left, 0.05))[0]:
                self.close_connection = True
                return False
        return True

    def data_series_response(self, query, params, seg, auth, remaining):
        def send(status, body, ctype="application/json", rem=remaining, reset=None,
                 extra=(), **kw):
            rate = [("X-RateLimit-Limit", str(RATE_LIMIT)),
                    ("X-RateLimit-Remaining", str(rem)),
                    ("X-RateLimit-Reset", str(reset or next_hour_epoch()))]
            self.reply(status, body, ctype, headers=rate + list(extra), **kw)

        def injected(code, soon=False, retry_after=None):
            # soon: a 429 whose window resets in a second (X-RateLimit-Reset)
            send(code, jbytes({"message": f"stand-in error {code}", "errors": ["injected"]}),
                 rem=0 if code == 429 else remaining,
                 reset=int(time.time()) + 1 if soon else None,
                 extra=[("Retry-After", str(retry_after))] if retry_after is not None else ())

        # Auth first, then parameter validation.
        if auth is None or not auth.startswith("Bearer "):
            return send(401, jbytes({"message": "Invalid API key"}))
        key = auth[len("Bearer "):]
        if key == "regress-noperm":
            return send(403, jbytes({"message": "Access Denied"}))
        if key != "regress-key" and not key.startswith("regress-key-"):
            return send(401, jbytes({"message": "Invalid API key"}))
        if key == "regress-key-noseries":    # a key without segments.data_series
            return send(403, jbytes({"message": "Access Denied"}))
        if not seg:
            return send(400, jbytes({"message": "segment_id is required",
                                     "errors": ["segment_id is required"]}))
        length = params.get("length", [""])[0]
        if not re.fullmatch(r"[+-]?[0-9]{1,9}", length, re.ASCII) or not 1 <= int(length) <= 100:
            return send(400, jbytes({"message": "length must be an integer between 1 and 100",
                                     "errors": ["invalid length"]}))
        length = int(length)
        if "ending_at" in params:
            end_day = parse_ending_at(params["ending_at"][0])
            if end_day is None:
                return send(400, jbytes({"message": "ending_at is not a valid ISO 8601 datetime"}))
        else:
            end_day = utc_today()

        # Faults chosen by magic segment ids.
        boundary = boundary_response(seg, key)     # issue 9: boundaries (see above)
        if boundary is not None:
            return send(boundary[0], boundary[1], boundary[2])
        if seg in FIXED_BODIES:
            return send(200, FIXED_BODIES[seg])
        if seg in FIXED_ERRORS:
            return send(*FIXED_ERRORS[seg])
        if seg == "html-502":
            return send(502, HTML_502, "text/html")
        if seg == "echo-key":
            return send(401, jbytes({"message": f"Invalid API key: {key}"}))
        if seg == "reset":
            self.close_connection = True
            try:
                self.connection.shutdown(2)   # SHUT_RDWR, then close: no response at all
            finally:
                self.connection.close()
            return None
        st = self.server.state
        with st.lock:                # the load test's fault mode: every Kth request fails
            st.counter += 1
            every_fail = st.fail_every > 0 and st.counter % st.fail_every == 0
        if every_fail:
            return injected(st.fail_status, soon=True)
        m = re.fullmatch(r"(http|flaky-([0-9]+)|retryafter|rows|huge|slow)-([0-9]+)", seg, re.ASCII)
        kind, num = (m[1], int(m[3])) if m else (None, 0)
        if kind == "http" and 200 <= num <= 599:
            return injected(num)
        if kind and (kind.startswith("flaky") and 200 <= num <= 599 or kind == "retryafter"):
            times = int(m[2]) if kind != "retryafter" else num
            with st.lock:            # first N requests with this exact query string fail
                fail = st.flaky.get(query, 0) < times
                st.flaky[query] = st.flaky.get(query, 0) + fail
            if fail and kind == "retryafter":
                return injected(429, retry_after=1)
            if fail:
                return injected(num, soon=(num == 429))
        if kind == "rows":
            return send(200, rows_body(num))
        if kind == "huge":
            return send(200, huge_body(num))
        if kind == "slow" and not self.wait_unless_gone(num / 1000):
            return None

        rows = series_rows(seg, end_day, length)
        with st.lock:
            revised = dict(st.revisions.get(seg, {}))
        for row in rows:             # sizes Braze revised since (see /__control/set?revise=)
            row["size"] = revised.get(row["time"], row["size"])
        if seg in ROW_ORDER_FAULTS:
            rows = ROW_ORDER_FAULTS[seg](rows)
        if seg in LAST_ROW_FAULTS:
            if not rows:             # nothing to corrupt: add a row so the fault still shows
                rows.append({"time": "2024-01-01", "size": 0})
            LAST_ROW_FAULTS[seg](rows[-1])
        body = jbytes({"message": "success", "data": rows})
        if seg == "truncated":
            return send(200, body[:min(40, len(body) - 1)])
        if seg == "trailing-garbage":
            return send(200, body + b" xyz")
        if seg == "redirect":
            return send(302, b"", extra=[("Location", "file:///etc/passwd")])
        if seg == "endless":
            # no Content-Length: a body that never ends, until the client hangs up
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Connection: close\r\n\r\n" + b'{"message": "success", "data": [')
            self.end_flight()
            row = b'{"time": "2024-01-01", "size": 1}, ' * 1000
            try:
                for _ in range(100000):      # at most about 3.5 GB
                    self.wfile.write(row)
            except OSError:
                pass
            return None
        if seg == "stall-body":
            send(200, body[:20], content_length=len(body))
            self.end_flight()
            self.close_connection = True
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:   # stop early once the client goes away
                if select.select([self.connection], [], [], 0.2)[0]:
                    break
            return None
        return send(200, body)

    # ---- segments/list and segments/details ---------------------------------------------------
    def parse_catalog_settings(self, q):
        """The /__control/set parameters catalog, catalog_listed, list_fault_page, list_fault and
        list_fault_times: a function that applies them to the state, or an error text."""
        try:
            n = int(q["catalog"][0]) if "catalog" in q else None
            listed = int(q["catalog_listed"][0]) if "catalog_listed" in q else None
            page = int(q["list_fault_page"][0]) if "list_fault_page" in q else None
            times = int(q["list_fault_times"][0]) if "list_fault_times" in q else None
        except ValueError:
            return "bad value\n"
        kind = q["list_fault"][0] if "list_fault" in q else None
        if n is not None and listed is not None:
            return "catalog and catalog_listed exclude each other\n"
        if listed is not None:
            if not 0 <= listed <= listed_count(CATALOG_MAX):
                return "bad value\n"
            n = catalog_for_listed(listed)
        if n is not None and not 0 <= n <= CATALOG_MAX:
            return "bad value\n"
        if (kind is None) != (page is None) or times is not None and kind is None:
            return "list_fault and list_fault_page go together (list_fault_times with them)\n"
        if page is not None and (page < 0 or times is not None and times < 0):
            return "bad value\n"
        if kind not in (None, "", "none") and not valid_list_fault(kind):
            return "unknown list_fault\n"

        def apply(st):               # called with st.lock held
            if n is not None:
                st.catalog = n
            if kind in ("", "none"):
                st.list_faults.pop(page, None)
            elif kind is not None:
                st.list_faults[page] = [kind, times, 0]
        return apply

    def api_send(self, status, body, remaining, ctype="application/json", reset=None, extra=(),
                 **kw):
        """An API answer with the X-RateLimit-* headers (as data_series_response's send)."""
        rate = [("X-RateLimit-Limit", str(RATE_LIMIT)),
                ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(reset or next_hour_epoch()))]
        self.reply(status, body, ctype, headers=rate + list(extra), **kw)

    def api_injected(self, code, remaining, soon=False, retry_after=None):
        """An injected error (as data_series_response's injected): a 429 says Remaining 0, and
        resets in a second when soon, else at the next hour."""
        self.api_send(code, jbytes({"message": f"stand-in error {code}", "errors": ["injected"]}),
                      0 if code == 429 else remaining,
                      reset=int(time.time()) + 1 if soon else None,
                      extra=[("Retry-After", str(retry_after))] if retry_after is not None else ())

    def catalog_auth(self, auth, denied_key, remaining):
        """Auth as for data_series, then the endpoint's own permission (denied_key lacks it):
        the key, or None once an error has been answered."""
        if auth is None or not auth.startswith("Bearer "):
            return self.api_send(401, jbytes({"message": "Invalid API key"}), remaining)
        key = auth[len("Bearer "):]
        if key == "regress-noperm":
            return self.api_send(403, jbytes({"message": "Access Denied"}), remaining)
        if key != "regress-key" and not key.startswith("regress-key-"):
            return self.api_send(401, jbytes({"message": "Invalid API key"}), remaining)
        if key == denied_key:
            return self.api_send(403, jbytes({"message": "Access Denied"}), remaining)
        return key

    def catalog_fault(self, kind, key, remaining, soon_429):
        """Answer the faults both endpoints share (CATALOG_FAULT_RE); True when answered (or
        the connection dropped), False when the normal answer should follow (after slow-MS)."""
        m = catalog_fault_match(kind)
        if not m:
            return False
        if m[1]:
            self.api_injected(int(m[1]), remaining, soon=soon_429 and m[1] == "429")
        elif m[2]:
            return not self.wait_unless_gone(int(m[2]) / 1000)
        elif kind == "ratelimit-hour":
            self.api_injected(429, remaining)
        elif kind == "retryafter":
            self.api_injected(429, remaining, retry_after=1)
        elif kind == "html-502":
            self.api_send(502, HTML_502, remaining, "text/html")
        elif kind in ("not-json", "not-object"):
            self.api_send(200, FIXED_BODIES[kind], remaining)
        elif kind in FIXED_ERRORS:
            self.api_send(FIXED_ERRORS[kind][0], FIXED_ERRORS[kind][1], remaining)
        elif kind == "echo-key":
            self.api_send(401, jbytes({"message": f"Invalid API key: {key}"}), remaining)
        elif kind == "reset":
            self.close_connection = True
            try:
                self.connection.shutdown(2)   # SHUT_RDWR, then close: no response at all
            finally:
                self.connection.close()
        return True

    def list_response(self, query, params, seg, auth, remaining):
        """GET /segments/list?page=N&sort_direction=asc|desc, with the faults set per page."""
        key = self.catalog_auth(auth, "regress-key-nolist", remaining)
        if key is None:
            return None
        page = params.get("page", ["0"])[0]
        if not re.fullmatch(r"[0-9]{1,9}", page, re.ASCII):
            return self.api_send(400, jbytes({"message": "page must be a non-negative integer",
                                              "errors": ["invalid page"]}), remaining)
        direction = params.get("sort_direction", ["asc"])[0]
        if direction not in ("asc", "desc"):
            return self.api_send(400, jbytes({"message": "sort_direction must be asc or desc",
                                              "errors": ["invalid sort_direction"]}), remaining)
        page = int(page)
        st = self.server.state
        with st.lock:
            n = st.catalog
            fault = st.list_faults.get(page)
            kind = None
            if fault and (fault[1] is None or fault[2] < fault[1]):
                fault[2] += 1
                kind = fault[0]
        records = [list_record(i) for i in list_page(n, page, direction == "desc")]
        if kind and self.catalog_fault(kind, key, remaining, soon_429=True):
            return None
        if kind in LIST_BODIES:
            return self.api_send(200, LIST_BODIES[kind], remaining)
        if kind in LIST_RECORD_FAULTS or kind == "segment-not-object":
            if not records:          # nothing to corrupt: add a segment so the fault still shows
                records.append(list_record(1))
            if kind == "segment-not-object":
                records[-1] = 42
            else:
                LIST_RECORD_FAULTS[kind](records[-1])
        body = ubytes({"message": "success", "segments": records})
        if kind == "truncated":
            body = body[:min(40, len(body) - 1)]
        return self.api_send(200, body, remaining)

    def details_response(self, query, params, seg, auth, remaining):
        """GET /segments/details?segment_id=S: a catalog segment's details, or a magic id's."""
        key = self.catalog_auth(auth, "regress-key-nodetails", remaining)
        if key is None:
            return None
        if not seg:
            return self.api_send(400, jbytes({"message": "segment_id is required",
                                              "errors": ["segment_id is required"]}), remaining)
        st = self.server.state
        with st.lock:
            i = catalog_index(seg, st.catalog)
        if i is not None:
            return self.api_send(200, ubytes(details_record(i)), remaining)
        if self.catalog_fault(seg, key, remaining, soon_429=False):
            return None
        m = re.fullmatch(r"(flaky-([0-9]+)-([0-9]{3})|retryafter-([0-9]+))", seg, re.ASCII)
        if m and (m[4] or 200 <= int(m[3]) <= 599):
            times = int(m[2] or m[4])
            with st.lock:            # first N requests with this exact query string fail
                served = st.flaky.get((DETAILS_PATH, query), 0)
                st.flaky[(DETAILS_PATH, query)] = served + (served < times)
            if served < times and m[4]:
                return self.api_injected(429, remaining, retry_after=1)
            if served < times:
                return self.api_injected(int(m[3]), remaining, soon=m[3] == "429")
        elif not (catalog_fault_match(seg) or seg in DETAILS_FAULTS
                  or seg in DETAILS_BODIES or seg == "truncated"):
            return self.api_send(404, jbytes({"message": "Segment not found"}), remaining)
        if seg in DETAILS_BODIES:
            return self.api_send(200, DETAILS_BODIES[seg], remaining)
        details = details_record(1)  # a magic id that answers: segment 1's details, named seg
        details["name"] = seg
        if seg in DETAILS_FAULTS:
            DETAILS_FAULTS[seg](details)
        body = ubytes(details)
        if seg == "truncated":
            body = body[:min(40, len(body) - 1)]
        return self.api_send(200, body, remaining)

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, log_path):
        self.state = state
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self):
        # Skip HTTPServer's getfqdn() (a reverse DNS lookup that can stall).
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def log(self, line):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def write_port(path, port):
    """Write the port number to path atomically, for a shell script to poll."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


def blackhole():
    """A listening socket that is never accepted from, its queue filled by our own
    connections: further SYNs are dropped, so clients time out while connecting.
    Returns the sockets, to keep them open."""
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(lsock.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    return [lsock] + fillers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--log")
    ap.add_argument("--blackhole-port-file",
                    help="also open a port that never completes a TCP handshake (its accept "
                         "queue is kept full), for connect timeouts; write its number here")
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    server = Server(("127.0.0.1", args.port), State(max(0, args.latency_ms)), args.log)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

    if args.blackhole_port_file:
        hole = blackhole()
        write_port(args.blackhole_port_file, hole[0].getsockname()[1])
    write_port(args.port_file, server.server_address[1])

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
