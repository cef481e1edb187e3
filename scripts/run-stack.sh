#!/usr/bin/env bash
# Runs the whole Portcullis stack locally as plain processes (no Docker) and
# stops it cleanly on Ctrl-C:
#   NATS (JetStream) → ClickHouse → audit-writer → detector-worker × N → gateway
#
#   scripts/run-stack.sh                      # gateway in front of the real Anthropic API
#   scripts/run-stack.sh --mock-upstream      # demo against the bundled mock (no API key needed)
#
# Options:
#   --mock-upstream   start mock-upstream and point the gateway at it
#   --workers N       detector workers to start (default 1; 0 = none)
#   --release         build and run optimized binaries (slower first build)
#   --no-install      do not run scripts/install-deps.sh (packages already there)
#   --reset           delete the stack's NATS and ClickHouse data before starting
#
# Ports (environment, defaults in brackets): PORTCULLIS_GATEWAY_PORT [8080],
# PORTCULLIS_MOCK_PORT [9090], PORTCULLIS_NATS_PORT [4222],
# PORTCULLIS_NATS_MONITOR_PORT [8222], PORTCULLIS_CLICKHOUSE_HTTP_PORT [18123],
# PORTCULLIS_CLICKHOUSE_TCP_PORT [19000], PORTCULLIS_CLICKHOUSE_INTERSERVER_PORT
# [19009]. ClickHouse avoids 8123/9000/9009, where the Debian package's own
# service may listen.
#
# Everything lives under .portcullis/ (gitignored): nats/ (JetStream store),
# clickhouse/ (generated config, data, server logs), audit-spool/ (gateway),
# logs/<service>.log. Data is kept between runs unless --reset is given.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

MOCK=0
WORKERS=1
PROFILE=debug
INSTALL=1
RESET=0
while (($#)); do
    case "$1" in
        --mock-upstream) MOCK=1 ;;
        --workers)
            [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "--workers needs a number" >&2; exit 2; }
            WORKERS=$2; shift ;;
        --workers=*)
            WORKERS=${1#--workers=}
            [[ $WORKERS =~ ^[0-9]+$ ]] || { echo "--workers needs a number" >&2; exit 2; } ;;
        --release) PROFILE=release ;;
        --no-install) INSTALL=0 ;;
        --reset) RESET=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

GATEWAY_PORT="${PORTCULLIS_GATEWAY_PORT:-8080}"
MOCK_PORT="${PORTCULLIS_MOCK_PORT:-9090}"
NATS_PORT="${PORTCULLIS_NATS_PORT:-4222}"
NATS_MONITOR_PORT="${PORTCULLIS_NATS_MONITOR_PORT:-8222}"
CH_HTTP_PORT="${PORTCULLIS_CLICKHOUSE_HTTP_PORT:-18123}"
CH_TCP_PORT="${PORTCULLIS_CLICKHOUSE_TCP_PORT:-19000}"
CH_INTERSERVER_PORT="${PORTCULLIS_CLICKHOUSE_INTERSERVER_PORT:-19009}"
DEMO_KEY="pcl_demo_key_do_not_use_in_production"

STATE_DIR="$PWD/.portcullis"
LOG_DIR="$STATE_DIR/logs"
NATS_URL="nats://127.0.0.1:${NATS_PORT}"
CH_URL="http://127.0.0.1:${CH_HTTP_PORT}"
GATEWAY_URL="http://127.0.0.1:${GATEWAY_PORT}"
UPSTREAM_URL="https://api.anthropic.com"
[[ $MOCK == 1 ]] && UPSTREAM_URL="http://127.0.0.1:${MOCK_PORT}"

say() { printf 'run-stack: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Fail fast, before a long build, when another stack (or anything) holds a port.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$GATEWAY_PORT" "$NATS_PORT" "$NATS_MONITOR_PORT" "$CH_HTTP_PORT" "$CH_TCP_PORT" "$CH_INTERSERVER_PORT" \
    $([[ $MOCK == 1 ]] && echo "$MOCK_PORT"); do
    port_in_use "$port" && die "port $port is already in use (another stack running? see --help for the port variables)"
done

# --- install and build ----------------------------------------------------------
[[ $INSTALL == 1 ]] && bash scripts/install-deps.sh
command -v curl >/dev/null 2>&1 || die "curl is needed for the readiness checks (apt-get install curl)"
find_daemon() {
    command -v "$1" 2>/dev/null || { [[ -x /usr/sbin/$1 ]] && echo "/usr/sbin/$1"; } \
        || die "$1 not found: run scripts/install-deps.sh"
}
NATS_BIN=$(find_daemon nats-server)
CH_BIN=$(find_daemon clickhouse-server)

cargo_flags=()
[[ $PROFILE == release ]] && cargo_flags=(--release)
say "building the services ($PROFILE)"
cargo build "${cargo_flags[@]}" -p portcullis-gateway -p audit-writer -p mock-upstream --bins
BIN_DIR="${CARGO_TARGET_DIR:-target}/$PROFILE"
if ((WORKERS > 0)); then
    # The ML worker is optional for the gateway (ML is a per-project option), so a
    # worker that does not build or has no `run` command does not stop the demo.
    if ! cargo build "${cargo_flags[@]}" -p detector-worker --bin detector-worker; then
        say "WARNING: detector-worker does not build: starting without ML workers"
        WORKERS=0
    elif ! "$BIN_DIR/detector-worker" --help 2>/dev/null | grep -qE '^ +run '; then
        say "WARNING: detector-worker has no 'run' command: starting without ML workers"
        WORKERS=0
    fi
fi

# --- helpers --------------------------------------------------------------------

NAMES=()  # service names, in start order
PIDS=()   # their pids
STOPPING=0

# start NAME CMD...: runs CMD in its own session (so a terminal Ctrl-C reaches
# only this script, which then stops the services in order), logging to
# .portcullis/logs/NAME.log.
start() {
    local name=$1; shift
    : >"$LOG_DIR/$name.log"
    setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    NAMES+=("$name")
    PIDS+=($!)
}

# wait_ready NAME SECONDS CHECK...: polls CHECK until it succeeds; fails if the
# service's process exits or the time runs out.
wait_ready() {
    local name=$1 seconds=$2; shift 2
    local pid=${PIDS[${#PIDS[@]}-1]} tries=$((seconds * 10))
    while ! "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited during start; last lines of $LOG_DIR/$name.log:"
            tail -n 20 "$LOG_DIR/$name.log" >&2
            exit 1
        fi
        ((tries-- > 0)) || { say "$name not ready after ${seconds}s; see $LOG_DIR/$name.log"; tail -n 20 "$LOG_DIR/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    say "$name ready (pid $pid)"
}

# stop_one NAME PID SIGNAL GRACE: signal, wait up to GRACE seconds, then SIGKILL.
stop_one() {
    local name=$1 pid=$2 signal=$3 grace=$4 tries
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "-$signal" "$pid" 2>/dev/null || true
    tries=$((grace * 10))
    while kill -0 "$pid" 2>/dev/null && ((tries-- > 0)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within ${grace}s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    say "stopped $name"
}

# Reverse start order: the gateway stops taking requests and flushes its audit
# events to NATS, the writer inserts and acks what it holds, then the servers go.
cleanup() {
    ((STOPPING)) && return 0
    STOPPING=1
    trap - INT TERM HUP
    ((${#PIDS[@]})) || return 0
    echo >&2
    say "stopping..."
    local i name signal grace
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        name=${NAMES[$i]} signal=TERM grace=15
        case "$name" in
            mock-upstream) signal=INT ;;        # it stops on ctrl-c only
            audit-writer) grace=40 ;;           # flushes its last batch (≤ 30 s)
            gateway) grace=35 ;;                # drains in-flight streams
        esac
        stop_one "$name" "${PIDS[$i]}" "$signal" "$grace"
    done
    say "all stopped (logs in $LOG_DIR)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- state directories ------------------------------------------------------------
if [[ $RESET == 1 ]]; then
    say "--reset: deleting $STATE_DIR/nats and $STATE_DIR/clickhouse"
    rm -rf "$STATE_DIR/nats" "$STATE_DIR/clickhouse"
fi
CH_DIR="$STATE_DIR/clickhouse"
mkdir -p "$LOG_DIR" "$STATE_DIR/nats" "$STATE_DIR/audit-spool"
for sub in data tmp user_files format_schemas log; do mkdir -p "$CH_DIR/$sub"; done

# --- NATS with JetStream ----------------------------------------------------------
# -sd keeps the audit stream across runs. The Debian 2.9 server flushes JetStream
# to disk every 2 minutes (acked events can be lost on a power cut, not on a
# crash of the process); the compose stack's config syncs every write instead.
start nats "$NATS_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -sd "$STATE_DIR/nats" -n portcullis-local
wait_ready nats 20 curl -fsS "http://127.0.0.1:${NATS_MONITOR_PORT}/healthz"

# --- ClickHouse -----------------------------------------------------------------
# A minimal config for running unprivileged from .portcullis/clickhouse (the same
# shape test-support generates): loopback only, default user without password.
cat >"$CH_DIR/config.xml" <<XML
<?xml version="1.0"?>
<!-- Generated by scripts/run-stack.sh on every start; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$CH_DIR/log/server.log</log>
        <errorlog>$CH_DIR/log/server.err.log</errorlog>
        <size>10M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <interserver_http_port>$CH_INTERSERVER_PORT</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
    <shutdown_wait_unfinished>2</shutdown_wait_unfinished>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
XML
cat >"$CH_DIR/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
start clickhouse "$CH_BIN" "--config-file=$CH_DIR/config.xml"
ch_ping() { [[ $(curl -fsS "$CH_URL/ping") == "Ok." ]]; }
wait_ready clickhouse 60 ch_ping

# --- mock upstream (demo) -------------------------------------------------------
if [[ $MOCK == 1 ]]; then
    start mock-upstream "$BIN_DIR/mock-upstream" --listen "127.0.0.1:${MOCK_PORT}"
    wait_ready mock-upstream 20 curl -sS -o /dev/null "http://127.0.0.1:${MOCK_PORT}/v1/models"
fi

# --- audit writer ---------------------------------------------------------------
# Applies the ClickHouse migrations, creates the stream (if the gateway has not
# yet) and its durable consumer, then logs "audit-writer running". The log line
# is the readiness signal: a durable consumer left in the store by an earlier
# run exists before this writer has connected.
start audit-writer env PORTCULLIS_NATS_URL="$NATS_URL" PORTCULLIS_CLICKHOUSE_URL="$CH_URL" \
    PORTCULLIS_METRICS_LISTEN="127.0.0.1:9102" "$BIN_DIR/audit-writer" run
writer_ready() { grep -q 'audit-writer running' "$LOG_DIR/audit-writer.log"; }
wait_ready audit-writer 60 writer_ready

# --- detector workers -----------------------------------------------------------
# Share the cores between the workers' model threads.
WORKER_GLIBC_TUNABLES="glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824"
if ((WORKERS > 0)); then
    cores=$(nproc 2>/dev/null || echo 2)
    threads=$(( cores / WORKERS )); ((threads >= 1)) || threads=1
    for ((n = 1; n <= WORKERS; n++)); do
        # GLIBC_TUNABLES keeps tensor buffers in the heap (benches/ml/RESULTS.md).
        # One metrics port per worker: 9103, 9104, ...
        start "detector-worker-$n" env PORTCULLIS_NATS_URL="$NATS_URL" RAYON_NUM_THREADS="$threads" \
            PORTCULLIS_METRICS_LISTEN="127.0.0.1:$((9102 + n))" \
            GLIBC_TUNABLES="${GLIBC_TUNABLES:-$WORKER_GLIBC_TUNABLES}" "$BIN_DIR/detector-worker" run
        # Ready once this many workers subscribe to the request subject.
        workers_subscribed() {
            local count
            count=$(curl -fsS "http://127.0.0.1:${NATS_MONITOR_PORT}/subsz?subs=1&limit=100000" \
                | grep -c '"subject": "detect.injection"') || return 1
            ((count >= n))
        }
        wait_ready "detector-worker-$n" 120 workers_subscribed
    done
fi

# --- gateway --------------------------------------------------------------------
# The dashboard is on with a demo admin credential (the gateway only listens on
# 127.0.0.1 here); the config holds only its hash, as `gateway dashboard credential` prints.
DASHBOARD_CREDENTIAL="${PORTCULLIS_DEMO_DASHBOARD_CREDENTIAL:-pda_demo_admin_do_not_use_in_production}"
DASHBOARD_HASH="sha256:$(printf '%s' "$DASHBOARD_CREDENTIAL" | sha256sum | cut -d' ' -f1)"
# With workers, the demo project classifies in alert mode (no added latency; verdicts
# arrive as follow-up events in the dashboard): the example config with its commented
# [projects.ml] table switched on.
GATEWAY_CONFIG=config/gateway.example.toml
if ((WORKERS > 0)); then
    GATEWAY_CONFIG="$STATE_DIR/gateway.toml"
    sed -e 's/^# \[projects\.ml\]$/[projects.ml]/' -e 's/^# mode = "alert" /mode = "alert" /' \
        config/gateway.example.toml > "$GATEWAY_CONFIG"
    grep -q '^mode = "alert"' "$GATEWAY_CONFIG" || die "could not enable ML in $GATEWAY_CONFIG"
fi
start gateway env PORTCULLIS_LISTEN="127.0.0.1:${GATEWAY_PORT}" PORTCULLIS_NATS_URL="$NATS_URL" \
    PORTCULLIS_UPSTREAM_URL="$UPSTREAM_URL" PORTCULLIS_AUDIT__SPOOL_DIR="$STATE_DIR/audit-spool" \
    PORTCULLIS_CLICKHOUSE_URL="$CH_URL" PORTCULLIS_DASHBOARD__ENABLED=true \
    PORTCULLIS_DASHBOARD__ADMIN_CREDENTIAL_HASH="$DASHBOARD_HASH" \
    "$BIN_DIR/gateway" --config "$GATEWAY_CONFIG" serve
wait_ready gateway 30 curl -fsS "$GATEWAY_URL/health"

worker_line="$WORKERS detector worker(s) on detect.injection (project demo: ML in alert mode)"
((WORKERS > 0)) || worker_line="no detector workers (ML off: signatures and policy only)"
cat <<INFO

Portcullis is running.
  gateway:      $GATEWAY_URL   (health: $GATEWAY_URL/health)
  dashboard:    $GATEWAY_URL/dashboard/   (admin credential: $DASHBOARD_CREDENTIAL)
  upstream:     $UPSTREAM_URL
  NATS:         $NATS_URL   (monitoring: http://127.0.0.1:${NATS_MONITOR_PORT}/jsz)
  ClickHouse:   $CH_URL   (database portcullis, user default)
  ML:           $worker_line
  metrics:      $GATEWAY_URL/metrics, http://127.0.0.1:9102/metrics (audit-writer),
                http://127.0.0.1:9103/metrics … (detector workers, one port each)
  logs:         $LOG_DIR/<service>.log
  demo gateway key: $DEMO_KEY

Point Claude Code or an SDK at it:
  export ANTHROPIC_BASE_URL=$GATEWAY_URL
  export ANTHROPIC_CUSTOM_HEADERS="x-portcullis-key: $DEMO_KEY"

Try it:
  curl -s $GATEWAY_URL/v1/messages -H "x-api-key: \${ANTHROPIC_API_KEY:-sk-ant-demo}" \\
    -H "x-portcullis-key: $DEMO_KEY" -H "content-type: application/json" \\
    -d '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}'

See the audit events (they land within about a second):
  curl -s '$CH_URL/' --data-binary 'SELECT ts, project, model, decision, input_tokens, output_tokens FROM portcullis.audit_events FINAL ORDER BY ts DESC LIMIT 10 FORMAT PrettyCompact'
  PORTCULLIS_CLICKHOUSE_URL=$CH_URL $BIN_DIR/audit-writer usage --by model --since 1d

Ctrl-C stops everything.
INFO

# Run until Ctrl-C (the trap stops everything) or until a service dies.
set +e
wait -n "${PIDS[@]}"
status=$?
for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
        say "${NAMES[$i]} exited (status $status); last lines of $LOG_DIR/${NAMES[$i]}.log:"
        tail -n 20 "$LOG_DIR/${NAMES[$i]}.log" >&2
        break
    fi
done
exit 1
