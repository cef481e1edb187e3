#!/usr/bin/env bash
# Runs the Portcullis stack locally as plain processes and stops it on Ctrl-C.
#   scripts/run-stack.sh                  # gateway in front of the real Anthropic API
#   scripts/run-stack.sh --mock-upstream  # demo against the bundled mock (no API key needed)
set -euo pipefail
cd "$(dirname "$0")/.."

MOCK=0
for arg in "$@"; do
  case "$arg" in
    --mock-upstream) MOCK=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh
cargo build --workspace --bins

TARGET_DIR="${CARGO_TARGET_DIR:-target}/debug"
GATEWAY_PORT="${PORTCULLIS_GATEWAY_PORT:-8080}"
MOCK_PORT="${PORTCULLIS_MOCK_PORT:-9090}"
PIDS=()
cleanup() {
  echo; echo "stopping..."
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

export PORTCULLIS_LISTEN="127.0.0.1:${GATEWAY_PORT}"
if [ "$MOCK" = 1 ]; then
  "$TARGET_DIR/mock-upstream" --listen "127.0.0.1:${MOCK_PORT}" &
  PIDS+=($!)
  export PORTCULLIS_UPSTREAM_URL="http://127.0.0.1:${MOCK_PORT}"
fi
"$TARGET_DIR/gateway" --config config/gateway.example.toml &
PIDS+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:${GATEWAY_PORT}/health" >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<INFO

Portcullis is running.
  gateway:  http://127.0.0.1:${GATEWAY_PORT}   (health: /health)
  upstream: ${PORTCULLIS_UPSTREAM_URL:-https://api.anthropic.com}
  demo gateway key: pcl_demo_key_do_not_use_in_production

Point Claude Code or an SDK at it:
  export ANTHROPIC_BASE_URL=http://127.0.0.1:${GATEWAY_PORT}
  export ANTHROPIC_CUSTOM_HEADERS="x-portcullis-key: pcl_demo_key_do_not_use_in_production"

Try it:
  curl -s http://127.0.0.1:${GATEWAY_PORT}/v1/messages -H "x-api-key: \${ANTHROPIC_API_KEY:-sk-ant-demo}" \\
    -H "x-portcullis-key: pcl_demo_key_do_not_use_in_production" -H "content-type: application/json" \\
    -d '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}'

Ctrl-C stops everything.
INFO
wait -n "${PIDS[@]}"
