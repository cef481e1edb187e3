#!/usr/bin/env bash
# Runs every test: installs what the tests need (Debian nats-server and
# clickhouse-server, a Python venv with the pinned anthropic SDK), then lints and
# runs the whole workspace's tests against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if cargo fmt --version >/dev/null 2>&1; then
    echo "== cargo fmt --check (layout in rustfmt.toml)"
    cargo fmt --all --check
else
    echo "== cargo fmt not installed (rustup component add rustfmt): layout not checked"
fi
echo "== cargo clippy (lints deny unwrap/expect/panic outside tests)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
echo "== docker compose file and Dockerfile paths"
bash scripts/check-compose.sh
