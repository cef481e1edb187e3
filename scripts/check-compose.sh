#!/usr/bin/env bash
# Validates the docker compose stack without a Docker engine:
#   1. `docker-compose config -q` (Debian's docker-compose v1; installed if missing),
#      with and without the "demo" profile;
#   2. a lint that every path the compose file and the Dockerfiles refer to exists:
#      build contexts, Dockerfiles, bind-mounted files, COPY/ADD sources (and that
#      .dockerignore does not exclude them), and that each builder stage copies
#      every [workspace] member and builds a real package;
#   3. `gateway check-config` on docker/gateway.toml when a built gateway binary
#      is at hand (target/debug or target/release; skipped otherwise).
# Exit status 0 when all pass. Runs as root, or through sudo for the install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'check-compose: %s\n' "$*" >&2; }

# --- docker-compose -----------------------------------------------------------
if ! command -v docker-compose >/dev/null 2>&1; then
    as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(sudo)
    log "installing Debian's docker-compose (no engine needed for validation)"
    "${as_root[@]}" apt-get update -qq
    # --no-install-recommends: otherwise apt pulls the whole docker.io engine.
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi

# Variables the file reads from the environment get no defaults here on purpose:
# the file must be valid with none of them set.
docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile demo config -q
log "docker-compose config: ok (default and demo profiles)"

# --- path lint ----------------------------------------------------------------
# Debian's python3 (a docker-compose dependency) has PyYAML; a pyenv python may not.
python=/usr/bin/python3
[[ -x $python ]] || python=python3
"$python" - <<'PY'
import fnmatch
import glob
import json
import os
import re
import shlex
import sys
import tomllib

import yaml

errors = []
root = os.getcwd()


def err(msg):
    errors.append(msg)


with open("docker-compose.yml") as f:
    compose = yaml.safe_load(f)
with open("Cargo.toml", "rb") as f:
    workspace = tomllib.load(f)["workspace"]
members = workspace["members"]
packages = set()
for member in members:
    with open(os.path.join(member, "Cargo.toml"), "rb") as f:
        packages.add(tomllib.load(f)["package"]["name"])


def dockerignore_patterns(context):
    path = os.path.join(context, ".dockerignore")
    if not os.path.isfile(path):
        return []
    patterns = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line.rstrip("/"))
    return patterns


def ignored(rel, patterns):
    """True when .dockerignore excludes `rel` or one of its parents (no `!` support needed)."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in patterns:
            if pattern.startswith("!"):
                continue
            if fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(parts[i - 1], pattern[3:])):
                return True
    return False


def instructions(dockerfile):
    """Yield (instruction, argument text) with line continuations joined."""
    logical = ""
    for raw in open(dockerfile):
        line = raw.rstrip("\n")
        if not logical and (line.lstrip().startswith("#") or not line.strip()):
            continue
        if line.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.strip().partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""


def lint_dockerfile(dockerfile, context):
    patterns = dockerignore_patterns(context)
    stage_copies = []  # COPY destinations of local sources in the current stage
    builds_workspace = False
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            if builds_workspace:
                check_members(dockerfile, stage_copies)
            stage_copies, builds_workspace = [], False
        elif keyword in ("COPY", "ADD"):
            args = rest
            if args.startswith("["):
                words = json.loads(args)
            else:
                words = shlex.split(args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if any(f.startswith("--from=") for f in flags):
                continue
            if len(paths) < 2:
                err(f"{dockerfile}: {keyword} {rest}: needs a source and a destination")
                continue
            for source in paths[:-1]:
                if re.match(r"^[a-z]+://", source):
                    continue
                rel = os.path.normpath(source)
                matches = glob.glob(os.path.join(context, rel))
                if not matches:
                    err(f"{dockerfile}: {keyword} source '{source}' does not exist in {os.path.relpath(context, root) or '.'}")
                elif ignored(rel, patterns):
                    err(f"{dockerfile}: {keyword} source '{source}' is excluded by .dockerignore")
                stage_copies.append(rel)
        elif keyword == "RUN":
            for pkg in re.findall(r"cargo build[^&;]*?-p\s+(\S+)", rest):
                builds_workspace = True
                if pkg not in packages:
                    err(f"{dockerfile}: cargo build -p {pkg}: no such workspace package ({', '.join(sorted(packages))})")
            if "--locked" not in rest and "cargo build" in rest:
                err(f"{dockerfile}: cargo build without --locked")
    if builds_workspace:
        check_members(dockerfile, stage_copies)


def check_members(dockerfile, copies):
    if "." in copies:
        return  # the whole context
    for needed in ["Cargo.toml", "Cargo.lock", *members]:
        if needed not in copies:
            err(f"{dockerfile}: builder stage does not COPY '{needed}' (a [workspace] member or manifest)")


services = compose.get("services", {})
dockerfiles_seen = set()
for name, service in services.items():
    build = service.get("build")
    if build is not None:
        if isinstance(build, str):
            build = {"context": build}
        context = os.path.normpath(os.path.join(root, build.get("context", ".")))
        dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
        if not os.path.isdir(context):
            err(f"service {name}: build context {build.get('context')} is not a directory")
        elif not os.path.isfile(dockerfile):
            err(f"service {name}: dockerfile {build.get('dockerfile')} does not exist")
        else:
            dockerfiles_seen.add(os.path.relpath(dockerfile, root))
            lint_dockerfile(os.path.relpath(dockerfile, root), context)
    for volume in service.get("volumes", []):
        source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
        if source and source.startswith((".", "/")):
            if not os.path.exists(os.path.join(root, source)):
                err(f"service {name}: mounted path {source} does not exist")
        elif source and source not in (compose.get("volumes") or {}):
            err(f"service {name}: named volume {source} is not declared under volumes:")
    for dep in service.get("depends_on", {}) or {}:
        if dep not in services:
            err(f"service {name}: depends_on unknown service {dep}")
        elif isinstance(service["depends_on"], dict):
            condition = service["depends_on"][dep].get("condition")
            if condition == "service_healthy" and "healthcheck" not in services[dep]:
                err(f"service {name}: waits for {dep} to be healthy but {dep} has no healthcheck")

# Dockerfiles nobody builds rot silently: lint them too.
for dockerfile in sorted(glob.glob("docker/*.Dockerfile")):
    if dockerfile not in dockerfiles_seen:
        lint_dockerfile(dockerfile, root)

if errors:
    for e in errors:
        print(f"check-compose: ERROR: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-compose: paths ok ({len(services)} services, {len(set(glob.glob('docker/*.Dockerfile')) | dockerfiles_seen)} Dockerfiles)", file=sys.stderr)
PY

# --- gateway config -----------------------------------------------------------
gateway_bin=""
for candidate in "${CARGO_TARGET_DIR:-target}/debug/gateway" "${CARGO_TARGET_DIR:-target}/release/gateway"; do
    [[ -x $candidate ]] && { gateway_bin=$candidate; break; }
done
if [[ -n $gateway_bin ]]; then
    # Only the file: PORTCULLIS_* overrides in this shell must not hide a bad key in it.
    unset_vars=()
    while IFS= read -r var; do unset_vars+=(-u "$var"); done < <(compgen -e | grep '^PORTCULLIS_' || true)
    env "${unset_vars[@]}" "$gateway_bin" --config docker/gateway.toml check-config >&2
else
    log "no built gateway binary: skipped 'gateway check-config docker/gateway.toml'"
fi
log "ok"
