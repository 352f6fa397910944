#!/usr/bin/env bash
# Backups (issue 19): a materialized view's rows are not in a backup, a
# history table's are.  A database with a history table filled by
# segment_fdw_sync, a materialized view over the foreign tables, one over
# the history table and one WITH NO DATA is dumped (pg_dump -Fc) while a
# stand-in of its own answers; the stand-in is stopped (Braze unreachable)
# and the dump restored: plainly (exit 1 at the view's REFRESH), from a
# list without that REFRESH (exit 0), and by sections (post-data once the
# stand-in is back on the same port, the URL in the dump).  Then a REFRESH
# and a second segment_fdw_sync in the restored database.
set -uo pipefail
PATH=$PG_BIN:$PATH
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/segment_fdw_restore.XXXXXX)
dump=$work/src.dump
dbs="restore_src restore_plain restore_listed restore_sections"
psql_q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
control() { curl -sf --noproxy '*' "$url/__control/$1" >/dev/null; }

# a stand-in of this script's own, so it can be stopped; on a port chosen
# once, so it comes back where the dump's server points
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
standin_pid=
start_standin() {
  rm -f "$work/port"
  python3 "$top/test/standin.py" --port-file "$work/port" --port "$port" >>"$work/standin.log" 2>&1 &
  standin_pid=$!
  for _ in $(seq 100); do
    [[ -s $work/port ]] && break
    sleep 0.05
  done
  # 20 listed segments rather than 221: 20 requests per sync or refresh
  control "set?catalog_listed=20" || { echo "not ok the private stand-in did not start on $port"; exit 1; }
}
stop_standin() {
  [[ -n $standin_pid ]] || return 0
  kill "$standin_pid" 2>/dev/null
  wait "$standin_pid" 2>/dev/null
  standin_pid=
}
cleanup() {
  stop_standin
  for db in $dbs; do dropdb --if-exists "$db" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# report NAME WHY: "ok NAME" when WHY is empty, else "not ok NAME: WHY"
report() { if [[ -z $2 ]]; then echo "ok $1"; else echo "not ok $1: $2"; fi; }
# rows DB QUERY: count and md5 of a query's rows (segment_id, time, x), in order
rows() {
  psql_q -d "$1" -c "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, ';' ORDER BY r), ''))
    FROM ($2) r" 2>&1
}
history_q="SELECT segment_id, time, size FROM segment_history"
recent_q="SELECT segment_id, time, size FROM recent_sizes"
peak_q="SELECT segment_id, month, peak FROM monthly_peak"
populated() { psql_q -d "$1" -c "SELECT relispopulated FROM pg_class WHERE oid = '$2'::regclass" 2>&1; }
pk() { psql_q -d "$1" -c "SELECT count(*) FROM pg_constraint WHERE conrelid = 'segment_history'::regclass AND contype = 'p'" 2>&1; }

for db in $dbs; do dropdb --if-exists "$db" 2>/dev/null; done
start_standin

# the source: the history, the trap, a view that is still right, and one
# never refreshed
createdb restore_src
psql_q -d restore_src >"$work/src.out" 2>&1 <<SQL || { echo "not ok the source database could not be set up:"; sed 's/^/#   /' "$work/src.out"; exit 1; }
CREATE EXTENSION segment_fdw;
CREATE SERVER braze FOREIGN DATA WRAPPER segment_fdw OPTIONS (url '$url');
CREATE USER MAPPING FOR CURRENT_USER SERVER braze OPTIONS (api_key 'regress-key');
CREATE SCHEMA braze;
IMPORT FOREIGN SCHEMA segments FROM SERVER braze INTO braze;
CREATE TABLE segment_history (segment_id text, time date, size bigint NOT NULL,
  PRIMARY KEY (segment_id, time));
SELECT * FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series', '2024-01-01', '2024-03-31');
CREATE MATERIALIZED VIEW recent_sizes AS
  SELECT d.segment_id, d.time, d.size
  FROM braze.segments s JOIN braze.data_series d ON d.segment_id = s.id
  WHERE d.time >= '2024-03-01' AND d.time < '2024-04-01';
CREATE UNIQUE INDEX ON recent_sizes (segment_id, time);
CREATE MATERIALIZED VIEW monthly_peak AS
  SELECT segment_id, date_trunc('month', time)::date AS month, max(size) AS peak
  FROM segment_history GROUP BY 1, 2;
CREATE MATERIALIZED VIEW never_filled AS
  SELECT segment_id, time, size FROM braze.data_series
  WHERE segment_id = 'cat-0001' AND time >= '2024-03-01' AND time < '2024-04-01'
  WITH NO DATA;
SQL
src_history=$(rows restore_src "$history_q")
src_recent=$(rows restore_src "$recent_q")
src_peak=$(rows restore_src "$peak_q")
# 20 segments x 91 days; March: 20 x 31; 20 x 3 months
why=
[[ $src_history == "1820 "* && $src_recent == "620 "* && $src_peak == "60 "* ]] ||
  why="history, recent_sizes, monthly_peak: $src_history; $src_recent; $src_peak"
report "restore: the source holds 1820 history rows, 620 rows in recent_sizes, 60 in monthly_peak" "$why"

# what the dump holds: for recent_sizes a REFRESH, not its rows; for the
# history table its rows; for the view WITH NO DATA nothing
pg_dump -Fc -f "$dump" restore_src
list=$(pg_restore -l "$dump")
script=$(pg_restore -f - "$dump")
post=$(pg_restore -l --section=post-data "$dump")
data_line=$(grep -E '^[0-9]+; [0-9]+ [0-9]+ MATERIALIZED VIEW DATA public recent_sizes ' <<<"$list")
why=
[[ -n $data_line ]] || why="no MATERIALIZED VIEW DATA entry for recent_sizes in pg_restore -l"
grep -qx 'REFRESH MATERIALIZED VIEW public.recent_sizes;' <<<"$script" || why+=" no REFRESH of recent_sizes in the script;"
grep -q '^COPY public.recent_sizes' <<<"$script" && why+=" a COPY of recent_sizes' rows;"
grep -qF "$data_line" <<<"$post" || why+=" the entry is not in --section=post-data;"
report "dump: recent_sizes is a MATERIALIZED VIEW DATA entry of the post-data section ($data_line), whose SQL is REFRESH MATERIALIZED VIEW public.recent_sizes; no COPY of its rows" "$why"

why=
grep -qE '^[0-9]+; [0-9]+ [0-9]+ TABLE DATA public segment_history ' <<<"$list" || why="no TABLE DATA entry for segment_history;"
copied=$(sed -n '/^COPY public.segment_history /,/^\\\.$/p' <<<"$script" | grep -cv '^COPY \|^\\\.$')
((copied == 1820)) || why+=" the COPY of segment_history holds $copied rows;"
grep -q 'MATERIALIZED VIEW DATA public never_filled ' <<<"$list" && why+=" never_filled has a data entry;"
grep -q 'REFRESH MATERIALIZED VIEW public.never_filled' <<<"$script" && why+=" never_filled is refreshed;"
report "dump: segment_history is a TABLE DATA entry with its 1820 rows; the view WITH NO DATA has no data entry" "$why"

# Braze unreachable from here on: connections to the port are refused
stop_standin

# a plain restore: everything but recent_sizes' rows, and exit status 1
createdb restore_plain
pg_restore -d restore_plain "$dump" >"$work/plain.err" 2>&1
rc=$?
err=$(cat "$work/plain.err")
why=
((rc == 1)) || why="exit status $rc;"
grep -q 'could not connect to Braze after 4 attempts' <<<"$err" || why+=" no 'could not connect to Braze after 4 attempts';"
grep -q 'Command was: REFRESH MATERIALIZED VIEW public.recent_sizes;' <<<"$err" || why+=" the failed command is not the REFRESH of recent_sizes;"
[[ -z $why ]] || why+=" stderr: ${err//$'\n'/ | }"
report "restore: without Braze, plain pg_restore exits 1 at REFRESH MATERIALIZED VIEW public.recent_sizes (could not connect to Braze after 4 attempts)" "$why"

why=
got=$(rows restore_plain "$history_q")
[[ $got == "$src_history" ]] || why="segment_history: $got, source $src_history;"
got=$(rows restore_plain "$peak_q")
[[ $got == "$src_peak" ]] || why+=" monthly_peak: $got, source $src_peak;"
[[ $(pk restore_plain) == 1 ]] || why+=" no primary key on segment_history;"
report "restore: that plain restore holds every history row (same count and md5), its primary key, and monthly_peak as in the source" "$why"

why=
[[ $(populated restore_plain recent_sizes) == f ]] || why="relispopulated: $(populated restore_plain recent_sizes);"
sel=$(psql -X -qAt -d restore_plain -c "SELECT count(*) FROM recent_sizes" 2>&1)
grep -q 'ERROR:  materialized view "recent_sizes" has not been populated' <<<"$sel" || why+=" SELECT: $sel;"
grep -q 'HINT:  Use the REFRESH MATERIALIZED VIEW command.' <<<"$sel" || why+=" no HINT: $sel;"
conc=$(psql -X -qAt -d restore_plain -c "REFRESH MATERIALIZED VIEW CONCURRENTLY recent_sizes" 2>&1)
grep -q 'ERROR:  CONCURRENTLY cannot be used when the materialized view is not populated' <<<"$conc" || why+=" REFRESH CONCURRENTLY: $conc;"
report "restore: there recent_sizes is unpopulated: SELECT fails (has not been populated, HINT Use the REFRESH MATERIALIZED VIEW command.), and REFRESH CONCURRENTLY cannot be used" "$why"

# the restore the README recommends: a list without the REFRESH of views
# over foreign tables
# (a line of pg_restore -l ends with the owner: "ID; 0 OID MATERIALIZED VIEW
# DATA public recent_sizes postgres"; the spaces keep other names out)
grep -v ' MATERIALIZED VIEW DATA public recent_sizes ' <<<"$list" >"$work/list"
createdb restore_listed
pg_restore -L "$work/list" -d restore_listed "$dump" >"$work/listed.err" 2>&1
rc=$?
why=
((rc == 0)) || why="exit status $rc: $(tr '\n' ' ' <"$work/listed.err");"
(($(wc -l <<<"$list") - $(wc -l <"$work/list") == 1)) || why+=" the list left out other lines than recent_sizes' data;"
got=$(rows restore_listed "$history_q")
[[ $got == "$src_history" ]] || why+=" segment_history: $got;"
got=$(rows restore_listed "$peak_q")
[[ $got == "$src_peak" ]] || why+=" monthly_peak: $got;"
[[ $(populated restore_listed recent_sizes) == f ]] || why+=" recent_sizes populated: $(populated restore_listed recent_sizes);"
report "restore: without Braze, pg_restore -L of a list without recent_sizes' MATERIALIZED VIEW DATA exits 0, with the history rows and monthly_peak; recent_sizes unpopulated" "$why"

# by sections: pre-data and data need no Braze; post-data (indexes,
# constraints, the REFRESHes) once it answers again
createdb restore_sections
pg_restore --section=pre-data --section=data -d restore_sections "$dump" >"$work/sections.err" 2>&1
rc=$?
why=
((rc == 0)) || why="exit status $rc: $(tr '\n' ' ' <"$work/sections.err");"
got=$(rows restore_sections "$history_q")
[[ $got == "$src_history" ]] || why+=" segment_history: $got;"
[[ $(pk restore_sections) == 0 ]] || why+=" the primary key is there already;"
[[ $(populated restore_sections monthly_peak) == f ]] || why+=" monthly_peak is populated already;"
report "restore: without Braze, --section=pre-data --section=data exits 0 with the history rows, but no primary key and monthly_peak unpopulated (post-data)" "$why"

start_standin
pg_restore --section=post-data -d restore_sections "$dump" >"$work/post.err" 2>&1
rc=$?
why=
((rc == 0)) || why="exit status $rc: $(tr '\n' ' ' <"$work/post.err");"
got=$(rows restore_sections "$recent_q")
[[ $got == "$src_recent" ]] || why+=" recent_sizes: $got, source $src_recent;"
got=$(rows restore_sections "$peak_q")
[[ $got == "$src_peak" ]] || why+=" monthly_peak: $got;"
[[ $(pk restore_sections) == 1 ]] || why+=" no primary key;"
report "restore: with Braze back on the same URL, --section=post-data exits 0: primary key, monthly_peak, and recent_sizes refreshed with the source's rows" "$why"

# with Braze back: REFRESH fills the view, a sync writes nothing new
why=
out=$(psql_q -d restore_listed -c "REFRESH MATERIALIZED VIEW recent_sizes" 2>&1) || why="REFRESH: $out;"
got=$(rows restore_listed "$recent_q")
[[ $got == "$src_recent" ]] || why+=" recent_sizes: $got, source $src_recent;"
report "restore: with Braze back, REFRESH MATERIALIZED VIEW recent_sizes in the listed restore gives the source's rows" "$why"

out=$(psql_q -d restore_listed -c "SELECT inserted, updated, unchanged FROM segment_fdw_sync('segment_history', 'braze.segments', 'braze.data_series', '2024-01-01', '2024-03-31')" 2>&1)
if [[ $out == "0|0|1820" ]]; then
  report "restore: segment_fdw_sync runs again on the restored history table (inserted 0, updated 0, unchanged 1820)" ""
else
  report "restore: segment_fdw_sync runs again on the restored history table" "got '$out', expected 0|0|1820"
fi
