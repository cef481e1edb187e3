#!/usr/bin/env bash
# Installs what the test suite needs on Debian bookworm, idempotently:
#   - Debian packages nats-server, clickhouse-server, curl, chromium, python3-venv (only if missing)
#   - .venv at the repo root with scripts/python/requirements.txt (only if not satisfied)
#   - e2e/browser/node_modules (playwright-core, pinned by package-lock.json) via `npm ci`
#     for the dashboard browser test (only if missing or out of date)
# Runs as root, or through sudo when not root.
#
# Note: the clickhouse-server package's postinst may start a system service on
# 8123/9000 where an init system runs. The tests never use those ports (each test
# server picks free random ports), so such a service is harmless and left alone.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/scripts/python/requirements.txt"
venv_dir="${PORTCULLIS_TEST_VENV:-$repo_root/.venv}"

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
else
    as_root=(sudo)
fi

log() { printf 'install-deps: %s\n' "$*" >&2; }

# --- Debian packages --------------------------------------------------------
packages=(nats-server clickhouse-server curl)  # curl: readiness checks in run-stack.sh
# chromium: the dashboard browser test (e2e/tests/dashboard.rs) drives /usr/bin/chromium.
packages+=(chromium)
# node + npm: the browser test's driver (playwright-core needs node >= 20; an existing
# install, e.g. nodesource's, is kept).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
# python3-venv is only needed when the python3 on PATH cannot create a venv
# (pyenv builds and Debian's full python3 can; Debian's bare python3 cannot).
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
if ! command -v python3 >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
elif ! python3 -m venv --without-pip "$probe_dir/venv" >/dev/null 2>&1 \
    || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    "${as_root[@]}" apt-get update
    # DEBIAN_FRONTEND avoids debconf prompts on fresh boxes.
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    log "Debian packages present: ${packages[*]}"
fi

for bin in nats-server clickhouse-server; do
    if ! command -v "$bin" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$bin ]] && [[ ! -x /usr/bin/$bin ]]; then
        log "ERROR: $bin still not found after install"
        exit 1
    fi
done

# --- Python venv with the pinned SDK ----------------------------------------
if [[ ! -x "$venv_dir/bin/python" ]]; then
    log "creating venv at $venv_dir"
    python3 -m venv "$venv_dir"
fi

# Satisfied when every pinned name==version is installed at exactly that version.
requirements_satisfied() {
    "$venv_dir/bin/python" - "$requirements" <<'PY'
import sys
from importlib import metadata

ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        ok &= metadata.version(name.strip()) == version.strip()
    except metadata.PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PY
}

if requirements_satisfied; then
    log "python requirements already satisfied in $venv_dir"
else
    log "installing python requirements into $venv_dir"
    "$venv_dir/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
    requirements_satisfied || { log "ERROR: requirements still not satisfied"; exit 1; }
fi

# --- Browser test driver (playwright-core, no bundled browser) ---------------
browser_dir="$repo_root/e2e/browser"
stamp="$browser_dir/node_modules/.package-lock.json"
if [[ -f "$stamp" && ! "$browser_dir/package-lock.json" -nt "$stamp" ]]; then
    log "playwright-core already installed in $browser_dir"
else
    log "installing playwright-core into $browser_dir (npm ci)"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the test uses Debian's chromium, nothing is fetched.
    (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

log "done"
