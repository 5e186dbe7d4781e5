# Shared by scripts/dev and scripts/test: installs what is missing and runs Postgres and
# Redis as local processes on loopback, with their state under a git-ignored folder.
# Sourced, not executed.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/event-service-target}"
# The SQL macros (`sqlx::query!` and kin) check every statement against the committed `.sqlx/`
# data, never against a live database: builds need no Postgres, and a stray DATABASE_URL (or a
# .env file) cannot change what compiles. Only `cargo sqlx prepare` (scripts/test, README)
# talks to a database.
export SQLX_OFFLINE=true

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
source "$REPO_ROOT/scripts/lib/toolchain.sh"

# The directory holding initdb/pg_ctl/postgres (Debian keeps them off PATH).
pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
  return 1
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing packages ($*) and no apt-get to install them"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  log "installing $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
  pg_bin_dir >/dev/null 2>&1 || missing+=(postgresql)
  command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  command -v cargo >/dev/null 2>&1 || die "cargo is required (Rust 1.95)"
  PG_BIN="$(pg_bin_dir)" || die "PostgreSQL server binaries not found"
  export PG_BIN
}

# Postgres refuses to run as root; as root we run it as the `postgres` OS user.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_dir NAME: where a cluster lives. Under the clone's .local/ normally; as root under /tmp,
# because the `postgres` OS user must reach it and a clone may sit below a 0700 home such as
# /root (and a short path keeps the Unix socket under its 107-byte limit).
pg_dir() {
  local name="$1"
  if [[ $(id -u) -eq 0 ]]; then
    echo "/tmp/event-service-$(printf '%s' "$REPO_ROOT" | sha1sum | cut -c1-10)/$name"
  else
    echo "$REPO_ROOT/.local/$name/postgres"
  fi
}

# start_postgres DIR PORT [fast]: initialises DIR once, then starts a server on 127.0.0.1:PORT.
# "fast" trades durability for speed (test clusters are thrown away).
start_postgres() {
  local dir="$1" port="$2" mode="${3:-}"
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir" && chmod 700 "$dir"
    runuser -u postgres -- test -w "$dir" || die "the postgres OS user cannot write $dir"
  fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    log "initialising Postgres cluster in $dir/data"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$dir'"
      echo "max_connections = 300"
      echo "shared_buffers = 128MB"
      if [[ "$mode" == fast ]]; then
        echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"
      fi
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  fi
  if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    log "Postgres already running on port $port"
  else
    log "starting Postgres on 127.0.0.1:$port"
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
      || { tail -20 "$dir/postgres.log" >&2; die "Postgres did not start"; }
  fi
}

stop_postgres() {
  local dir="$1"
  [[ -f "$dir/data/PG_VERSION" ]] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# psql as the superuser over the cluster's unix socket.
pg_super() {
  local dir="$1" port="$2"; shift 2
  as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}

# bootstrap_database DIR PORT DB: creates the owner role (runs migrations, owns the schema)
# and the application role (owns nothing, cannot bypass RLS), and the database. Idempotent.
bootstrap_database() {
  local dir="$1" port="$2" db="$3"
  pg_super "$dir" "$port" -d postgres <<SQL
do \$\$
begin
  if not exists (select 1 from pg_roles where rolname = 'event_service_owner') then
    create role event_service_owner login createrole password '${OWNER_PASSWORD}';
  end if;
  if not exists (select 1 from pg_roles where rolname = 'event_service') then
    create role event_service login nosuperuser nobypassrls nocreatedb nocreaterole password '${APP_PASSWORD}';
  end if;
end
\$\$;
SQL
  if [[ -z "$(pg_super "$dir" "$port" -d postgres -tAc "select 1 from pg_database where datname = '$db'")" ]]; then
    pg_super "$dir" "$port" -d postgres -c "create database $db owner event_service_owner"
  fi
}

# bootstrap_auth_standin DIR PORT DB APP_ROLE [TENANT...]: auth-service's tenants and
# invalidated_tokens tables (deploy/platform/auth-service-tables.sql), which event-service reads
# for tenant status and revoked tokens; in the platform auth-service owns them. The given
# tenants are registered as active. Idempotent.
bootstrap_auth_standin() {
  local dir="$1" port="$2" db="$3" role="$4"; shift 4
  pg_super "$dir" "$port" -d "$db" -v app_role="$role" -f - < "$REPO_ROOT/deploy/platform/auth-service-tables.sql" >/dev/null
  # Local stacks only: the owner role may read them too, because `cargo sqlx prepare` describes
  # the statements of src/storage/platform.rs as that role, and Postgres checks SELECT even for
  # the EXPLAIN it runs. In the platform the owner role has no access to auth-service's tables.
  pg_super "$dir" "$port" -d "$db" -c "grant select on tenants, invalidated_tokens to event_service_owner" >/dev/null
  local tenant
  for tenant in "$@"; do
    pg_super "$dir" "$port" -d "$db" -c \
      "insert into tenants (id, name, slug, status) values ('$tenant', 'Tenant $tenant', 'tenant-$tenant', 'active') on conflict (id) do nothing" >/dev/null
  done
}

# start_redis DIR PORT: a throwaway Redis (no persistence) on 127.0.0.1:PORT.
start_redis() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    log "Redis already running on port $port"
    return 0
  fi
  log "starting Redis on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "Redis did not start (see $dir/redis.log)"
}

stop_redis() {
  local port="$1"
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

# start_redis_cluster DIR FIRST_PORT: a throwaway Redis Cluster of six nodes on
# 127.0.0.1:FIRST_PORT..FIRST_PORT+5 (cluster bus on port + 10000), three primaries with a
# replica each. The node timeout is 2 s, so a killed primary's replica takes over within a few
# seconds. Starts from scratch unless a healthy cluster already answers on FIRST_PORT.
REDIS_CLUSTER_SIZE=6

redis_cluster_nodes() {
  local first="$1" i out=()
  for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do out+=("127.0.0.1:$((first + i))"); done
  (IFS=,; echo "${out[*]}")
}

start_redis_cluster() {
  local dir="$1" first="$2" i port
  if redis-cli -p "$first" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
    log "Redis Cluster already running on ports $first-$((first + REDIS_CLUSTER_SIZE - 1))"
    return 0
  fi
  stop_redis_cluster "$first"
  rm -rf "$dir"
  log "starting a Redis Cluster (3 primaries, 3 replicas) on ports $first-$((first + REDIS_CLUSTER_SIZE - 1))"
  for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do
    port=$((first + i))
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-node-timeout 2000 \
      --cluster-config-file nodes.conf --daemonize yes --dir "$dir/$port" --pidfile "$dir/$port/redis.pid" \
      --logfile "$dir/$port/redis.log" --save "" --appendonly no >/dev/null
  done
  for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do
    port=$((first + i))
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null 2>&1 || die "Redis Cluster node $port did not start (see $dir/$port/redis.log)"
  done
  # shellcheck disable=SC2046
  redis-cli --cluster create $(redis_cluster_nodes "$first" | tr , ' ') --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log" 2>&1 || { tail -20 "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
  # Ready once every node sees the cluster ok and every replica has finished its first sync (a
  # replica that has not refuses to take over from a failed primary).
  for _ in $(seq 1 150); do
    local ok=0
    for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do
      port=$((first + i))
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' \
        && redis-cli -p "$port" info replication 2>/dev/null | grep -qE '^(role:master|master_link_status:up)' \
        && ok=$((ok + 1))
    done
    ((ok == REDIS_CLUSTER_SIZE)) && return 0
    sleep 0.2
  done
  die "the Redis Cluster did not reach cluster_state:ok with every replica in sync (see $dir/create.log)"
}

stop_redis_cluster() {
  local first="$1" i
  for ((i = 0; i < REDIS_CLUSTER_SIZE; i++)); do
    redis-cli -p "$((first + i))" shutdown nosave >/dev/null 2>&1 || true
  done
}

# start_rabbitmq DIR PORT: a private RabbitMQ node (its own node name, port, Erlang
# distribution port, data and logs under DIR) on 127.0.0.1:PORT, user guest/guest. Runs the
# server script directly (not the packaged service), so it works as root and beside any other
# node. Waits until it accepts AMQP connections (about 15 s).
# start_pgbouncer DIR PORT PG_PORT DB ROLE PASSWORD [POOL_SIZE]: PgBouncer in transaction mode on
# 127.0.0.1:PORT in front of Postgres on PG_PORT, configured by deploy/pgbouncer/pgbouncer.ini with
# only the addresses, files and pool size replaced. Runs as the postgres OS user when root
# (PgBouncer refuses root), so DIR is one that user can reach (pg_dir).
start_pgbouncer() {
  local dir="$1" port="$2" pg_port="$3" db="$4" role="$5" password="$6" pool="${7:-}"
  stop_pgbouncer "$dir"
  rm -rf "$dir"; mkdir -p "$dir"
  printf '"%s" "%s"\n' "$role" "$password" >"$dir/userlist.txt"
  sed -E \
    -e "s|^tickettoken_db = .*|$db = host=127.0.0.1 port=$pg_port dbname=$db|" \
    -e "s|^listen_addr = .*|listen_addr = 127.0.0.1|" \
    -e "s|^listen_port = .*|listen_port = $port|" \
    -e "s|^auth_file = .*|auth_file = $dir/userlist.txt|" \
    -e "s|^logfile =.*|logfile = $dir/pgbouncer.log|" \
    -e "s|^pidfile =.*|pidfile = $dir/pgbouncer.pid|" \
    ${pool:+-e "s|^default_pool_size = .*|default_pool_size = $pool|"} \
    "$REPO_ROOT/deploy/pgbouncer/pgbouncer.ini" >"$dir/pgbouncer.ini"
  grep -q "^$db = host=127.0.0.1 port=$pg_port" "$dir/pgbouncer.ini" || die "deploy/pgbouncer/pgbouncer.ini lost its [databases] line"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; chmod 700 "$dir"; chmod 600 "$dir/userlist.txt"; fi
  log "starting PgBouncer (transaction mode) on 127.0.0.1:$port in front of Postgres on $pg_port"
  as_pg pgbouncer -d "$dir/pgbouncer.ini" || { tail -20 "$dir/pgbouncer.log" >&2; die "PgBouncer did not start"; }
  for _ in $(seq 1 50); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  tail -20 "$dir/pgbouncer.log" >&2; die "PgBouncer did not listen on $port"
}

stop_pgbouncer() {
  local dir="$1" pid
  [[ -f "$dir/pgbouncer.pid" ]] || return 0
  pid="$(cat "$dir/pgbouncer.pid")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# start_citus DIR FIRST_PORT DB: a Citus cluster on loopback, a coordinator on FIRST_PORT and two
# workers on the next ports, with DB created on each and the workers added. Citus 13.2 is built
# and installed by ../shared/vendor/citus/build.sh (cached under ~/.cache/citus-build; it must run
# before any Postgres server starts, see its header). Nodes trust loopback connections: the
# coordinator connects to the workers as the same role a query runs as (the application role,
# and the NOLOGIN-free event_service_system of the discovery functions), see deploy/citus/README.md.
start_citus() {
  local dir="$1" first="$2" db="$3" port i
  [[ -f /usr/lib/postgresql/15/lib/citus.so ]] || die "Citus is not installed (run scripts/install-citus)"
  stop_citus "$dir" "$first"
  rm -rf "$dir"; mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
  for i in 0 1 2; do
    port=$((first + i))
    as_pg "$PG_BIN/initdb" -D "$dir/$port" -U postgres --auth-local=trust --auth-host=trust --encoding=UTF8 \
      --locale=C.UTF-8 >/dev/null
    {
      echo "listen_addresses = '127.0.0.1'"; echo "port = $port"; echo "unix_socket_directories = '$dir'"
      echo "shared_preload_libraries = 'citus'"; echo "max_connections = 300"
      echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"
    } | as_pg tee -a "$dir/$port/postgresql.conf" >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$dir/$port" -l "$dir/$port.log" -w -t 60 start >/dev/null \
      || { tail -20 "$dir/$port.log" >&2; die "Citus node $port did not start"; }
    pg_super "$dir" "$port" -d postgres -c "create database $db" 2>/dev/null
    pg_super "$dir" "$port" -d "$db" -c "create extension citus"
  done
  log "Citus: coordinator on 127.0.0.1:$first, workers on $((first + 1)) and $((first + 2))"
  pg_super "$dir" "$first" -d "$db" -c "select citus_set_coordinator_host('127.0.0.1', $first)" >/dev/null
  pg_super "$dir" "$first" -d "$db" -c "select citus_add_node('127.0.0.1', $((first + 1)))" >/dev/null
  pg_super "$dir" "$first" -d "$db" -c "select citus_add_node('127.0.0.1', $((first + 2)))" >/dev/null
  # The roles of bootstrap_database, created in the Citus database so that Citus creates them on
  # the workers too; the database owned by the owner role on every node, as there.
  pg_super "$dir" "$first" -d "$db" <<SQL
create role event_service_owner login createrole password '${OWNER_PASSWORD}';
create role event_service login nosuperuser nobypassrls nocreatedb nocreaterole password '${APP_PASSWORD}';
SQL
  # Citus carries these to the workers itself (and refuses them there).
  pg_super "$dir" "$first" -d "$db" -c "alter database $db owner to event_service_owner" \
    -c "alter schema public owner to event_service_owner" >/dev/null
}

stop_citus() {
  local dir="$1" first="$2" i
  for i in 0 1 2; do
    if [[ -f "$dir/$((first + i))/PG_VERSION" ]]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir/$((first + i))" -m fast -w stop >/dev/null 2>&1 || true
    fi
  done
  return 0
}

rabbit_env() {
  local dir="$1" port="$2"
  echo "HOME=$dir" "RABBITMQ_NODENAME=event-service-$port@localhost" "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1" \
    "RABBITMQ_NODE_PORT=$port" "RABBITMQ_DIST_PORT=$((port + 20000))" "RABBITMQ_MNESIA_BASE=$dir/mnesia" \
    "RABBITMQ_LOG_BASE=$dir/log" "RABBITMQ_CONFIG_FILE=$dir/rabbitmq" "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins"
}

start_rabbitmq() {
  local dir="$1" port="$2"
  mkdir -p "$dir/mnesia" "$dir/log"
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "RabbitMQ already running on port $port"
    return 0
  fi
  printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$port" > "$dir/rabbitmq.conf"
  : > "$dir/enabled_plugins"
  log "starting RabbitMQ on 127.0.0.1:$port (node event-service-$port@localhost)"
  # shellcheck disable=SC2046
  env $(rabbit_env "$dir" "$port") /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/server.log" 2>&1 &
  echo $! > "$dir/server.pid"
  for _ in $(seq 1 240); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || { tail -20 "$dir/server.log" >&2; die "RabbitMQ exited"; }
    sleep 0.25
  done
  tail -20 "$dir/server.log" >&2
  die "RabbitMQ did not start within 60 s (see $dir/server.log)"
}

stop_rabbitmq() {
  local dir="$1" port="$2"
  [[ -f "$dir/server.pid" ]] || return 0
  # shellcheck disable=SC2046
  env $(rabbit_env "$dir" "$port") /usr/lib/rabbitmq/bin/rabbitmqctl -n "event-service-$port@localhost" shutdown >/dev/null 2>&1 \
    || kill "$(cat "$dir/server.pid")" 2>/dev/null || true
  rm -f "$dir/server.pid"
}

# ensure_jwt_keys DIR: an RS256 key pair for local tokens (never used outside dev and tests).
ensure_jwt_keys() {
  local dir="$1"
  mkdir -p "$dir"
  if [[ ! -f "$dir/jwt-private.pem" ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/jwt-private.pem" 2>/dev/null
    openssl pkey -in "$dir/jwt-private.pem" -pubout -out "$dir/jwt-public.pem" 2>/dev/null
  fi
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# mint_token PRIVATE_KEY TENANT SUB ROLE HOURS: an RS256 access token like the auth-service's
# (kid "current", aud equal to the issuer).
mint_token() {
  local key="$1" tenant="$2" sub="$3" role="$4" hours="$5"
  local now exp header payload signature
  now=$(date +%s); exp=$((now + hours * 3600))
  header=$(printf '{"alg":"RS256","typ":"JWT","kid":"current"}' | b64url)
  payload=$(printf '{"sub":"%s","tenant_id":"%s","type":"access","role":"%s","permissions":["*"],"iss":"%s","aud":"%s","iat":%d,"exp":%d,"jti":"%s"}' \
    "$sub" "$tenant" "$role" "${JWT_ISSUER:-tickettoken}" "${JWT_AUDIENCE:-${JWT_ISSUER:-tickettoken}}" "$now" "$exp" "$(cat /proc/sys/kernel/random/uuid)" | b64url)
  signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$key" -binary | b64url)
  printf '%s.%s.%s' "$header" "$payload" "$signature"
}

# ensure_wallet DIR: a development platform wallet (keypair JSON + base58 address), once.
ensure_wallet() { python3 "$REPO_ROOT/deploy/compose/make-wallet.py" "$1"; }

# venue_seed_hex TENANT VENUE: the tenant-bound venue seed (crates/chain/src/seeds.rs) in hex.
venue_seed_hex() { printf '%s%s' "${1//-/}" "${2//-/}"; }

# The test stack of scripts/test and scripts/scale-test: Postgres, Redis and RabbitMQ on the
# ports of TEST_PG_PORT, TEST_REDIS_PORT and TEST_RABBITMQ_PORT, with state keyed by the
# Postgres port, so two runs on different ports never share state.
test_stack_settings() {
  PG_PORT="${TEST_PG_PORT:-55433}"
  REDIS_PORT="${TEST_REDIS_PORT:-63800}"
  RABBITMQ_PORT="${TEST_RABBITMQ_PORT:-$((PG_PORT - 50000 + 5000))}"
  STATE="$REPO_ROOT/.local/test-$PG_PORT"
  PGDIR="$(pg_dir "test-$PG_PORT")"
  DB_NAME=event_service_test
  export OWNER_PASSWORD="test-owner-password" APP_PASSWORD="test-app-password"
}

# start_test_stack: a fresh stack every run (tests must never depend on what a previous run
# left), and the TEST_* variables the integration tests read.
start_test_stack() {
  stop_postgres "$PGDIR" 2>/dev/null || true
  stop_redis "$REDIS_PORT"
  stop_rabbitmq "$STATE/rabbitmq" "$RABBITMQ_PORT" 2>/dev/null || true
  rm -rf "$STATE" "$PGDIR"
  mkdir -p "$STATE"

  start_postgres "$PGDIR" "$PG_PORT" fast
  bootstrap_database "$PGDIR" "$PG_PORT" "$DB_NAME"
  # auth-service's tenants and invalidated_tokens, in the same database as in the platform.
  bootstrap_auth_standin "$PGDIR" "$PG_PORT" "$DB_NAME" event_service
  start_redis "$STATE/redis" "$REDIS_PORT"
  start_rabbitmq "$STATE/rabbitmq" "$RABBITMQ_PORT"

  export TEST_DATABASE_URL="postgres://event_service:${APP_PASSWORD}@127.0.0.1:${PG_PORT}/${DB_NAME}"
  export TEST_DATABASE_ADMIN_URL="postgres://event_service_owner:${OWNER_PASSWORD}@127.0.0.1:${PG_PORT}/${DB_NAME}"
  # The superuser is reachable only over the cluster's socket (trust); tests use it to prove
  # that the service refuses to start as a superuser.
  pg_super "$PGDIR" "$PG_PORT" -d postgres -c "alter role postgres password '${OWNER_PASSWORD}'"
  export TEST_PG_SUPERUSER_URL="postgres://postgres:${OWNER_PASSWORD}@127.0.0.1:${PG_PORT}/${DB_NAME}"
  export TEST_REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
  export TEST_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT}/%2f"
  # For tests that start (and kill) servers of their own.
  export TEST_PG_BIN="$PG_BIN"
  if [[ $(id -u) -eq 0 ]]; then export TEST_PG_RUN_AS=postgres; fi
}

stop_test_stack() {
  stop_rabbitmq "$STATE/rabbitmq" "$RABBITMQ_PORT"
  stop_redis "$REDIS_PORT"
  stop_postgres "$PGDIR"
}

# migrate_test_database: the service's own `migrate`, as the owner role.
migrate_test_database() {
  log "migrating the test database"
  cargo build --quiet --locked --bin event-service
  DATABASE_ADMIN_URL="$TEST_DATABASE_ADMIN_URL" DATABASE_URL="$TEST_DATABASE_URL" LOG_LEVEL=warn \
    "$CARGO_TARGET_DIR/debug/event-service" migrate
}
