#!/usr/bin/env python3
"""The extract-and-load baseline: what connectors do today.

Fetches GET /segments/data_series for each segment and each window of at
most 100 days, one request after another on one kept-alive connection, then
loads the rows with COPY (psql, reading them from standard input).  Prints
the wall time in milliseconds and the number of rows.

With a single segment argument "list:PREFIX", first pages GET /segments/list
(one page after another, until one holds fewer than 100 segments) and takes
the segments whose name starts with PREFIX: the whole-workspace extract.

Usage: peer.py BASE_URL API_KEY FIRST_DAY DAYS SEGMENT...
       peer.py BASE_URL API_KEY FIRST_DAY DAYS list:PREFIX
"""
import datetime as dt
import http.client
import json
import subprocess
import sys
import time
import urllib.parse


def windows(first, days):
    """Windows [a, b] of 98 days, asked with a day of margin on each side as
    segment_fdw asks them, so both send the same requests."""
    day = first
    last = first + dt.timedelta(days=days - 1)
    while day <= last:
        end = min(last, day + dt.timedelta(days=97))
        yield day, end
        day = end + dt.timedelta(days=1)


def get_json(conn, key, target):
    """GET target on the kept-alive connection, as a sequential client does: the parsed body."""
    conn.request("GET", target, headers={"Authorization": f"Bearer {key}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status}: {body[:200]!r}")
    return json.loads(body)


def main():
    base, key, first, days, segments = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    first = dt.date.fromisoformat(first)
    last = first + dt.timedelta(days=days - 1)
    url = urllib.parse.urlsplit(base)
    start = time.monotonic()
    conn = http.client.HTTPConnection(url.hostname, url.port)
    lines = []
    if len(segments) == 1 and segments[0].startswith("list:"):
        prefix = segments[0][len("list:"):]
        segments = []
        page = 0
        while True:
            listed = get_json(conn, key, f"/segments/list?page={page}&sort_direction=asc")["segments"]
            segments += [s["id"] for s in listed if s["name"].startswith(prefix)]
            if len(listed) < 100:
                break
            page += 1
    for seg in segments:
        for a, b in windows(first, days):
            query = urllib.parse.urlencode({"segment_id": seg, "length": (b - a).days + 3,
                                            "ending_at": (b + dt.timedelta(days=2)).isoformat()})
            for row in get_json(conn, key, f"/segments/data_series?{query}")["data"]:
                day = dt.date.fromisoformat(row["time"])
                if a <= day <= b:
                    lines.append(f"{seg}\t{row['time']}\t{row['size']}\n")
    conn.close()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "CREATE TEMP TABLE loaded (segment_id text, time date, size bigint); "
                    "COPY loaded FROM STDIN"],
                   input="".join(lines).encode(), check=True)
    elapsed = (time.monotonic() - start) * 1000
    print(f"{elapsed:.0f} {len(lines)}")


if __name__ == "__main__":
    main()
