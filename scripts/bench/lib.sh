# shellcheck shell=bash
# Shared by scripts/bench/holds and scripts/bench/suite: release build, a private Postgres and
# Redis on their own ports, the service and its stand-ins as tracked child processes, wrk and
# pgbench runs parsed into variables, and the hold workload. Sourced, not executed.

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)/stack.sh"
cd "$REPO_ROOT" || exit 1

BENCH_TENANT="00000000-0000-4000-8000-000000000001"
BENCH_USER="00000000-0000-4000-8000-0000000000a1"
BENCH_VENUE="00000000-0000-4000-8000-0000000000b1"      # venue-stub: 5000 seats
BENCH_BIG_VENUE="00000000-0000-4000-8000-0000000000b4"  # venue-stub: 1,000,000 seats
BENCH_TENANT2="00000000-0000-4000-8000-000000000002"     # the venue-stub's second tenant
BENCH_VENUE2="00000000-0000-4000-8000-0000000000c1"      # its venue: 20,000 seats
# A wrk run whose failed requests (HTTP >= 400 or socket errors) exceed this share fails its phase.
BENCH_MAX_ERROR_RATE="${BENCH_MAX_ERROR_RATE:-0.001}"

BENCH_PIDS=()

# bench_require CMD:DEBIAN_PACKAGE ...: installs what is missing with apt-get where possible
# (BENCH_NO_INSTALL=1 forbids it), then fails naming every tool still missing.
# A benchmark is one very busy user of one tenant, from 64 connections: the fairness limits that
# keep one tenant or user from taking everything (in-flight requests per user and per tenant,
# the tenant's share of the pool; README "Operator boundary and fairness") would measure
# themselves, so they are lifted like the rate limits (the pool share with DB_TENANT_CONCURRENCY
# set to the pool size by each script).
BENCH_ONE_BUSY_TENANT=(TENANT_MAX_IN_FLIGHT=100000 USER_MAX_IN_FLIGHT=100000)

bench_require() {
  local pair missing=() pkgs=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || { missing+=("${pair%%:*}"); pkgs+=("${pair#*:}"); }
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ "${BENCH_NO_INSTALL:-0}" != 1 ]] && command -v apt-get >/dev/null 2>&1; then
    apt_install "${pkgs[@]}" || true
  fi
  missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair%%:*} (Debian package ${pair#*:})")
  done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]}"
}

# bench_port_free PORT NAME: fails unless nothing listens on 127.0.0.1:PORT.
bench_port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    die "port $1 ($2) is already in use; pick another with the variable named in the script's header"
  fi
}

# bench_build [chain-sim]: release binaries; sets BIN, STUB_BIN and, with chain-sim, SIM_BIN.
bench_build() {
  log "building release binaries into $CARGO_TARGET_DIR"
  cargo build --quiet --release --locked -p event-service -p venue-stub || die "release build failed"
  BIN="$CARGO_TARGET_DIR/release/event-service"
  STUB_BIN="$CARGO_TARGET_DIR/release/venue-stub"
  if [[ "${1:-}" == chain-sim ]]; then
    local sim_target="${CARGO_TARGET_DIR}-chain-sim"
    log "building the chain simulator into $sim_target (its own workspace)"
    CARGO_TARGET_DIR="$sim_target" cargo build --quiet --release --locked \
      --manifest-path "$REPO_ROOT/tools/chain-sim/Cargo.toml" --bin chain-sim || die "chain-sim build failed"
    SIM_BIN="$sim_target/release/chain-sim"
    # The plain client that measures the simulator's own ceiling (row 8).
    cargo build --quiet --release --locked -p event-service --example chain_ceiling || die "chain_ceiling build failed"
    CEILING_BIN="$CARGO_TARGET_DIR/release/examples/chain_ceiling"
  fi
}

# bench_database PGDIR PG_PORT DB_NAME: Postgres with both roles, migrated; exports DATABASE_URL
# (the application role) and sets ADMIN_URL (the owner).
bench_database() {
  local pgdir="$1" port="$2" db="$3"
  start_postgres "$pgdir" "$port"
  bootstrap_database "$pgdir" "$port" "$db"
  bootstrap_auth_standin "$pgdir" "$port" "$db" event_service "$BENCH_TENANT" "$BENCH_TENANT2"
  export DATABASE_URL="postgres://event_service:${APP_PASSWORD}@127.0.0.1:${port}/${db}"
  ADMIN_URL="postgres://event_service_owner:${OWNER_PASSWORD}@127.0.0.1:${port}/${db}"
  DATABASE_ADMIN_URL="$ADMIN_URL" LOG_LEVEL=warn "$BIN" migrate >/dev/null || die "migration failed"
}

# bench_spawn NAME LOGFILE COMMAND...: a tracked child process; its pid in LAST_PID.
bench_spawn() {
  local name="$1" logfile="$2"; shift 2
  "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
  log "started $name (pid $LAST_PID, log $logfile)"
}

# bench_stop_pids: TERM every tracked child (newest first), KILL what is left after 15 s.
bench_stop_pids() {
  local pid i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid="${BENCH_PIDS[i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
}

# bench_wait_http URL PID WHAT LOGFILE: waits up to 30 s for URL to answer 2xx.
bench_wait_http() {
  local url="$1" pid="$2" what="$3" logfile="$4"
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -30 "$logfile" >&2; die "$what exited during start-up"; }
    sleep 0.1
  done
  tail -30 "$logfile" >&2
  die "$what did not become ready at $url"
}

# bench_api PORT METHOD PATH [BODY]: a call with the admin token ($TOKEN); prints the body and
# fails on any non-2xx answer.
bench_api() {
  local port="$1" method="$2" path="$3" body="${4:-}"
  local args=(-sS --fail-with-body -X "$method" -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json')
  [[ -n "$body" ]] && args+=(-d "$body")
  curl "${args[@]}" "http://127.0.0.1:${port}${path}" || die "$method $path failed"
}

json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }

# The Lua tail of every wrk script: one machine-readable line with the run's totals.
BENCH_LUA_REPORT='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH {\"requests\":%.0f,\"duration_us\":%.0f,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"status\":%.0f,\"connect\":%.0f,\"read\":%.0f,\"write\":%.0f,\"timeout\":%.0f}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
'

# bench_lua FILE: writes a wrk script from stdin with the report appended.
bench_lua() { { cat; printf '%s\n' "$BENCH_LUA_REPORT"; } >"$1"; }

# CPU time (user + system, clock ticks) a process has used so far.
bench_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# bench_cpu_snapshot: "<all CPU ticks of the machine, busy> <ticks of our processes>", where ours
# are the descendants of BENCH_ROOT_PIDS (this shell, the postmaster, Redis), reaped children
# included. The difference between two snapshots is the work other processes did meanwhile.
# BENCH_FOREIGN_DEBUG=FILE appends the other processes (pid:name:ticks) of every snapshot to FILE.
bench_cpu_snapshot() {
  # shellcheck disable=SC2086 # one argument per pid
  python3 - ${BENCH_ROOT_PIDS:-$$} <<'PY'
import os, sys
roots = {int(p) for p in sys.argv[1:]}
stat = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
            stat[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))  # ppid; utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            pass
def ours(pid, seen=0):
    while pid > 1 and seen < 64:
        if pid in roots:
            return True
        pid, seen = stat.get(pid, (0, 0))[0], seen + 1
    return False
mine = sum(t for pid, (_, t) in stat.items() if ours(pid))
if os.environ.get("BENCH_FOREIGN_DEBUG"):
    with open(os.environ["BENCH_FOREIGN_DEBUG"], "a") as f:
        def comm(pid):
            try:
                return open("/proc/%d/comm" % pid).read().strip().replace(" ", "_")
            except OSError:
                return "?"
        f.write(" ".join("%d:%s:%d" % (pid, comm(pid), t) for pid, (_, t) in stat.items() if not ours(pid) and t) + "\n")
v = list(map(int, open("/proc/stat").readline().split()[1:8]))
print(sum(v) - v[3] - v[4], sum(v), mine)
PY
}

# bench_foreign_share SNAPSHOT_BEFORE SNAPSHOT_AFTER: percent of the machine's CPU capacity used
# by processes that are not ours between the two snapshots.
bench_foreign_share() {
  python3 -c '
import sys
b0, t0, m0 = map(int, sys.argv[1].split()); b1, t1, m1 = map(int, sys.argv[2].split())
print("%.0f" % max(0.0, 100.0 * ((b1 - b0) - (m1 - m0)) / max(1, t1 - t0)))' "$1" "$2"
}

# bench_wrk NAME CONNECTIONS DURATION SCRIPT URL: one wrk run (2 threads, --latency, 10 s
# timeout), kept in $BENCH_STATE/NAME.wrk.txt. Sets W_RPS, W_REQ, W_DUR (s), W_P50/W_P90/W_P99/W_MAX (ms),
# W_BAD (HTTP >= 400 plus socket errors; wrk calls the first "Non-2xx or 3xx responses") and
# W_OK (1 when W_BAD is within BENCH_MAX_ERROR_RATE). With BENCH_CPU_PID set, W_CPU is the CPU
# time that process used per request during the run, in microseconds. W_FOREIGN: the share of
# the machine's CPUs that processes other than ours used during the run, in percent.
bench_wrk() {
  local name="$1" conns="$2" duration="$3" script="$4" url="$5"
  local out="$BENCH_STATE/$name.wrk.txt" cpu0=0
  log "wrk [$name] -t2 -c$conns -d${duration}s $url"
  [[ -n "${BENCH_CPU_PID:-}" ]] && cpu0=$(bench_cpu_ticks "$BENCH_CPU_PID")
  local snap0; snap0=$(bench_cpu_snapshot)
  wrk -t 2 -c "$conns" -d "${duration}s" --timeout 10s --latency -s "$script" "$url" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed in phase $name"; }
  grep -q '^BENCH ' "$out" || { cat "$out" >&2; die "wrk printed no report in phase $name"; }
  eval "$(grep '^BENCH ' "$out" | sed 's/^BENCH //' | python3 -c '
import json, sys
r = json.load(sys.stdin)
bad = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
ok = 1 if r["requests"] > 0 and bad <= float(sys.argv[1]) * r["requests"] else 0
rps = r["requests"] / (r["duration_us"] / 1e6)
ms = lambda k: "%.2f" % (r[k] / 1000)
print("W_REQ=%d W_DUR=%.3f W_RPS=%.0f W_P50=%s W_P90=%s W_P99=%s W_MAX=%s W_BAD=%d W_OK=%d" % (
    r["requests"], r["duration_us"] / 1e6, rps, ms("p50_us"), ms("p90_us"), ms("p99_us"), ms("max_us"), bad, ok))' "$BENCH_MAX_ERROR_RATE")"
  W_FOREIGN=$(bench_foreign_share "$snap0" "$(bench_cpu_snapshot)")
  W_CPU=""
  if [[ -n "${BENCH_CPU_PID:-}" ]] && ((W_REQ > 0)); then
    W_CPU=$(( ( $(bench_cpu_ticks "$BENCH_CPU_PID") - cpu0 ) * 1000000 / $(getconf CLK_TCK) / W_REQ ))
  fi
  log "  $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, failed requests $W_BAD of $W_REQ${W_CPU:+, service CPU $W_CPU µs/request}, other processes ${W_FOREIGN} % of the CPUs"
  bench_check_foreign "$name" "$W_FOREIGN"
  if [[ "$W_OK" != 1 ]]; then
    printf '\033[1;31mphase %s FAILED:\033[0m %s failed requests of %s (see %s)\n' "$name" "$W_BAD" "$W_REQ" "$out" >&2
  fi
}

# bench_pgbench NAME CLIENTS DURATION SQLFILE PG_PORT DB_NAME [-D k=v ...]: pgbench as the
# application role, prepared statements. Sets PG_TPS and PG_LAT (average latency, ms).
bench_pgbench() {
  local name="$1" clients="$2" duration="$3" sql="$4" port="$5" db="$6"; shift 6
  local out="$BENCH_STATE/$name.pgbench.txt" snap0
  log "pgbench [$name] -M prepared -c$clients -j2 -T$duration"
  snap0=$(bench_cpu_snapshot)
  PGPASSWORD="$APP_PASSWORD" pgbench -n -h 127.0.0.1 -p "$port" -U event_service -d "$db" -M prepared \
    -c "$clients" -j 2 -T "$duration" "$@" -f "$sql" >"$out" 2>&1 \
    || { cat "$out" >&2; die "pgbench failed in phase $name"; }
  PG_TPS=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$out")
  PG_LAT=$(awk '/^latency average = / {print $4; exit}' "$out")
  local failed
  failed=$(awk '/^number of failed transactions: / {print $5; exit}' "$out")
  [[ -n "$PG_TPS" ]] || { cat "$out" >&2; die "pgbench printed no tps in phase $name"; }
  [[ "${failed:-0}" == 0 ]] || die "pgbench: $failed failed transactions in phase $name (see $out)"
  PG_FOREIGN=$(bench_foreign_share "$snap0" "$(bench_cpu_snapshot)")
  log "  $PG_TPS tps, latency average $PG_LAT ms, other processes ${PG_FOREIGN} % of the CPUs"
  bench_check_foreign "$name" "$PG_FOREIGN"
}

# Runs during which other processes used more than BENCH_MAX_FOREIGN % of the CPUs are listed
# in BENCH_BUSY_RUNS ("name:percent ...") so the results can say which figures are disturbed.
BENCH_BUSY_RUNS=""
bench_check_foreign() {
  if (($2 > ${BENCH_MAX_FOREIGN:-5})); then
    BENCH_BUSY_RUNS+="${BENCH_BUSY_RUNS:+ }$1:$2%"
    printf '\033[1;33mwarning:\033[0m other processes used %s %% of the CPUs during %s\n' "$2" "$1" >&2
  fi
  return 0
}

# bench_ab NAME CONNECTIONS SECONDS PAIRS URL MAKE_SCRIPT TO_A TO_B: compares two conditions of
# the same workload whose cost drifts during the run (e.g. a table that grows), by alternating
# them in slices of SECONDS: A B, B A, A B, ... (PAIRS pairs), so both see the same drift.
# MAKE_SCRIPT COND SLICE FILE writes the wrk script of one slice; TO_A and TO_B switch the
# condition before each of its slices. Sets, for C in A and B: AB_C_RPS (all requests / all
# time), AB_C_P99 (median of the slices' p99, ms), AB_C_P99S ("x / y / z"), AB_C_P50 (median),
# AB_C_REQ, AB_C_BAD, AB_C_CPU (service µs/request), AB_C_OK (0 when any slice failed).
bench_ab() {
  local name="$1" conns="$2" secs="$3" pairs="$4" url="$5" make="$6" to_a="$7" to_b="$8"
  local i cond order lines=""
  for ((i = 1; i <= pairs; i++)); do
    order="A B"; ((i % 2 == 0)) && order="B A"
    for cond in $order; do
      if [[ "$cond" == A ]]; then $to_a; else $to_b; fi
      "$make" "$cond" "$i" "$BENCH_STATE/$name-$cond$i.lua"
      bench_wrk "$name-$cond$i" "$conns" "$secs" "$BENCH_STATE/$name-$cond$i.lua" "$url"
      lines+="$cond $W_REQ $W_DUR $W_BAD ${W_CPU:-0} $W_P99 $W_P50 $W_OK"$'\n'
    done
  done
  eval "$(printf '%s' "$lines" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
for c in "AB":
    r = [x for x in rows if x[0] == c]
    req = sum(int(x[1]) for x in r); dur = sum(float(x[2]) for x in r)
    p99 = [float(x[5]) for x in r]; p50 = [float(x[6]) for x in r]
    cpu = sum(int(x[4]) * int(x[1]) for x in r) // max(1, req)
    print("AB_%s_RPS=%.0f AB_%s_REQ=%d AB_%s_BAD=%d AB_%s_CPU=%d AB_%s_OK=%d" % (
        c, req / dur, c, req, c, sum(int(x[3]) for x in r), c, cpu, c, min(int(x[7]) for x in r)))
    print("AB_%s_P99=%.2f AB_%s_P50=%.2f AB_%s_P99S=\"%s\"" % (
        c, statistics.median(p99), c, statistics.median(p50), c, " / ".join("%.0f" % v for v in p99)))
')"
}

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }

# bench_holds_setup PORT: on-sale events with one section of 1,000,000 seats each on the big
# demo venue: HOLD_EVENT/HOLD_SECTION for the service, BASE_EVENT/BASE_SECTION for the pgbench
# baseline and STRIPED_EVENT/STRIPED_SECTION for the pgbench twin of the striped hold. Separate
# sections, so each side's counters can be checked against its own holds afterwards.
bench_holds_setup() {
  local port="$1"
  bench_hold_event "$port"; HOLD_EVENT=$BH_EVENT HOLD_SECTION=$BH_SECTION
  bench_hold_event "$port"; BASE_EVENT=$BH_EVENT BASE_SECTION=$BH_SECTION
  bench_hold_event "$port"; STRIPED_EVENT=$BH_EVENT STRIPED_SECTION=$BH_SECTION
}
bench_hold_event() {
  local port="$1" start end
  start=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ); end=$(date -u -d '+30 days +3 hours' +%Y-%m-%dT%H:%M:%SZ)
  BH_EVENT=$(bench_api "$port" POST /api/v1/events \
    "{\"name\":\"Bench holds $(date +%s%N)\",\"venue_id\":\"$BENCH_BIG_VENUE\",\"capacity\":1000000,\"starts_at\":\"$start\",\"ends_at\":\"$end\"}" \
    | json_get event.id)
  bench_api "$port" POST "/api/v1/events/$BH_EVENT/publish" >/dev/null
  bench_api "$port" PATCH "/api/v1/events/$BH_EVENT" '{"status":"ON_SALE"}' >/dev/null
  BH_SECTION=$(bench_api "$port" GET "/api/v1/events/$BH_EVENT/capacity" | json_get capacity.0.id)
}

# bench_holds_run PORT CONNECTIONS DURATION PG_PORT DB_NAME [PG_CLIENTS...]: the service takes
# one-seat holds on the hot section (wrk), then pgbench runs the baseline, *today's single-row
# hold transaction*, as the application role, in one transaction, through the same RLS policies,
# once per client count (default: CONNECTIONS), on a section of its own. Sets H_RPS, H_P99,
# H_BAD, H_OK, H_VALUE and H_TPS (the best pgbench result), H_TPS_ALL ("clients:tps ..."),
# H_STRIPED_TPS (pgbench of the striped hold, informational), H_OVERSOLD (seats held or sold
# beyond the service's section) and H_MISMATCHED (stripes whose counters differ from its holds).
#
# The baseline is frozen on purpose: issue 16's target divides the striped service by the
# single-row transaction the service ran before stripes (src/storage/capacity.rs at 5d9c84b:
# section_event, parent_event for share, purchase_limits, the conditional UPDATE of the
# section's row, the hold's INSERT, the section read). It still runs on the section row, whose
# counter columns are now the rollup, so it measures exactly the one-row ceiling the issue is
# about. The striped twin is read from the query! macros of src/storage/capacity.rs, so it
# follows the code: hold_target (which also reads the section's totals the answer is computed
# from) and take_and_hold (Pick::AnyFrom, a random first stripe).
bench_holds_run() {
  local port="$1" conns="$2" duration="$3" pg_port="$4" db="$5"; shift 5
  local clients=("$@") c
  ((${#clients[@]})) || clients=("$conns")
  bench_lua "$BENCH_STATE/hold.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"quantity":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
  bench_wrk holds "$conns" "$duration" "$BENCH_STATE/hold.lua" \
    "http://127.0.0.1:$port/api/v1/capacity/$HOLD_SECTION/reserve"
  H_RPS=$W_RPS H_P99=$W_P99 H_BAD=$W_BAD H_OK=$W_OK H_REQ=$W_REQ H_CPU=$W_CPU
  H_VALUE="$W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, $W_BAD failed${W_CPU:+, service CPU $W_CPU µs/req}"
  bench_holds_check "$HOLD_SECTION"
  cat >"$BENCH_STATE/hold.sql" <<'SQL'
BEGIN;
SELECT set_config('app.current_tenant_id', :tenant, true);
SELECT event_id FROM event_capacity WHERE tenant_id = :tenant AND id = :section AND deleted_at IS NULL;
SELECT status, created_by, venue_id FROM events WHERE tenant_id = :tenant AND id = :event AND deleted_at IS NULL FOR SHARE;
SELECT minimum_purchase, maximum_purchase FROM event_capacity WHERE tenant_id = :tenant AND id = :section;
UPDATE event_capacity SET available_capacity = available_capacity - 1, reserved_capacity = reserved_capacity + 1
 WHERE tenant_id = :tenant AND id = :section AND deleted_at IS NULL AND is_active AND available_capacity >= 1 RETURNING event_id;
INSERT INTO event_reservations (tenant_id, event_id, capacity_id, quantity, expires_at, seat_ids, created_by)
 VALUES (:tenant, :event, :section, 1, now() + make_interval(mins => 15), '{}', 'pgbench') RETURNING id;
SELECT to_jsonb(c) FROM event_capacity c WHERE c.tenant_id = :tenant AND c.id = :section AND c.deleted_at IS NULL;
COMMIT;
SQL
  H_TPS=0 H_TPS_ALL=""
  for c in "${clients[@]}"; do
    bench_pgbench "holds-c$c" "$c" "$duration" "$BENCH_STATE/hold.sql" "$pg_port" "$db" \
      -D tenant="$BENCH_TENANT" -D event="$BASE_EVENT" -D section="$BASE_SECTION"
    H_TPS_ALL+="${H_TPS_ALL:+, }$c clients: $PG_TPS tps"
    ((PG_TPS > H_TPS)) && H_TPS=$PG_TPS
  done
  bench_striped_sql >"$BENCH_STATE/hold-striped.sql"
  bench_pgbench "holds-striped-c${clients[0]}" "${clients[0]}" "$duration" "$BENCH_STATE/hold-striped.sql" "$pg_port" "$db" \
    -D tenant="$BENCH_TENANT" -D section="$STRIPED_SECTION" -D event="$STRIPED_EVENT"
  H_STRIPED_TPS=$PG_TPS
  return 0
}

# bench_striped_sql: the striped hold transaction, its statements taken from the query! macros.
bench_striped_sql() {
  python3 - "$REPO_ROOT/src/storage/capacity.rs" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
def stmt(pattern):
    m = re.search(pattern, src, re.S)
    if not m:
        sys.exit("bench: statement not found in storage/capacity.rs: " + pattern)
    return " ".join(m.group(1).split())
target = stmt(r'fn hold_target\b.*?query!\(\s*r#"(.*?)"#')
take = stmt(r'Pick::AnyFrom\(start\) => \{?\s*sqlx::query_as!\(\s*HoldOut,\s*r#"(.*?)"#')
target = re.sub(r' as "([a-z_]+)[!?]?(: [^"]*)?"', r' as \1', target)
take = re.sub(r' as "([a-z_]+)[!?]?(: [^"]*)?"', r' as \1', take)
# The holds' binds: one seat, no price, 15 minutes, no named seats, a random first stripe.
binds = {"1": ":tenant", "2": ":section", "3": ":event", "4": "1", "5": "NULL::uuid", "6": "15",
         "7": "NULL::numeric", "8": "NULL::jsonb", "9": "'{}'::text[]", "10": "'pgbench'", "11": ":start"}
bind = lambda sql, b: re.sub(r'\$(\d+)', lambda m: b[m.group(1)], sql)
print("\\set start random(0, 15)")
print("BEGIN;")
print("SELECT set_config('app.current_tenant_id', :tenant, true);")
print(bind(target, {"1": ":tenant", "2": ":section"}) + ";")
print(bind(take, binds) + ";")
print("COMMIT;")
PY
}

# bench_holds_check SECTION: the section's stripes against its holds, after the run. Sets
# H_OVERSOLD (seats held or sold beyond the section's sellable seats; must be 0) and
# H_MISMATCHED (stripes whose reserved/sold differ from the sums of their active/confirmed
# holds, or whose totals do not add up to the section; must be 0).
bench_holds_check() {
  local out
  out=$(pg_super "$PGDIR" "$PG_PORT" -d "$DB_NAME" -tA -F ' ' -v section="$1" <<'SQL'
with c as (select total_capacity - buffer_capacity as sellable from event_capacity where id = :'section'),
h as (select stripe, coalesce(sum(quantity) filter (where status = 'active'), 0) as active,
             coalesce(sum(quantity) filter (where status = 'confirmed'), 0) as confirmed
        from event_reservations where capacity_id = :'section' group by stripe),
s as (select * from section_stripes where capacity_id = :'section')
select greatest(0, (select coalesce(sum(active + confirmed), 0) from h) - (select sellable from c)),
       (select count(*) from s left join h using (stripe)
         where s.reserved <> coalesce(h.active, 0) or s.sold <> coalesce(h.confirmed, 0) or s.available < 0)
       + (select count(*) from h where h.stripe not in (select stripe from s))
       + case when (select sum(total) from s) = (select sellable from c) then 0 else 1 end,
       (select count(*) from s), (select coalesce(sum(active), 0) from h)
SQL
)
  read -r H_OVERSOLD H_MISMATCHED H_STRIPES H_HELD <<<"$out"
  log "  after the run: $H_HELD seats held on $H_STRIPES stripes, $H_OVERSOLD oversold, $H_MISMATCHED stripes not matching their holds"
}
