#!/usr/bin/env bash
# Builds release binaries and runs the proxy load harness (see README "Performance").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p portcullis-gateway -p mock-upstream -p portcullis-benches
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"${CARGO_TARGET_DIR:-target}/release/proxy-load" "$@"
