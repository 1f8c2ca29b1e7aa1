#!/usr/bin/env bash
# The one-encoder, two-head finterm model trained end to end on a GPU machine, in one call:
# teachers (several seeds side by side) -> sparse int8 student -> export, under one time budget,
# with everything it makes packed into $OUT as it goes (training/gpu/chain.py says what).
#
# On the GPU machine (carry .devbundle, made by `bash training/gpu/prepare.sh`; training/README.md
# has the whole procedure, the device command included):
#     bash training/gpu/multitask_run.sh
# Here, as the CPU smoke test of the same script (a tiny backbone and data, a few steps):
#     FT_BUNDLE=/tmp/tiny-bundle FT_BUDGET=300 FT_LIMIT=64 OUT=/tmp/ft-out bash training/gpu/multitask_run.sh
#
# FT_BUNDLE (.devbundle) holds wheels/, backbone/ and data/ (the news CSVs and stocktwits/,
# plain or gzipped). Every FT_* knob of chain.py passes through.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bundle=${FT_BUNDLE:-.devbundle}
py=${FT_PYTHON:-python3}
export OUT=${OUT:-$root/out-gpu}
scratch=${FT_SCRATCH:-/tmp/ft}
export FT_RUN_DIR=${FT_RUN_DIR:-$scratch/runs}
mkdir -p "$OUT" "$scratch"
export NM_DISABLE_ANALYTICS=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
t0=$(date +%s)
note() { echo "[setup +$(( $(date +%s) - t0 ))s] $*" | tee -a "$OUT/run.log" >&2; }

# 1. SparseML and the few packages it needs, where the machine lacks them (no network there).
if ! "$py" -c "import importlib.util as u, sys; sys.exit(u.find_spec('sparseml') is None)"; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --ignore-requires-python --target "$scratch/site" \
        "$bundle"/wheels/*.whl 2>&1 | tail -3 | tee -a "$OUT/run.log" >&2
    export PYTHONPATH=$scratch/site${PYTHONPATH:+:$PYTHONPATH}
fi

# 2. finterm importable without installing it: a package tree of links that follows pyproject's package-dir.
if ! "$py" -c "import finterm.training.cli" 2>/dev/null; then
    "$py" - "$root" "$scratch/pkg" <<'EOF'
import os, sys, tomllib
from pathlib import Path
root, dest = Path(sys.argv[1]), Path(sys.argv[2])
dirs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
for pkg, src in sorted(dirs.items()):
    target = dest.joinpath(*pkg.split("."))
    target.parent.mkdir(parents=True, exist_ok=True)
    if pkg == "finterm":  # the top package: its files, so the subpackages can sit beside them as links
        target.mkdir(parents=True, exist_ok=True)
        for f in (root / src).iterdir():
            if not (target / f.name).exists():
                os.symlink(f, target / f.name)
    elif not target.exists():
        os.symlink(root / src, target)
EOF
    export PYTHONPATH=$scratch/pkg${PYTHONPATH:+:$PYTHONPATH}
fi

# 3. Data where the chain reads it (gunzipped when the bundle carries it gzipped).
data=$scratch/data
mkdir -p "$data/twitter-financial-news" "$data/stocktwits"
for f in "$bundle"/data/*.csv "$bundle"/data/*.csv.gz "$bundle"/data/stocktwits/*.csv "$bundle"/data/stocktwits/*.csv.gz; do
    [ -e "$f" ] || continue
    sub=twitter-financial-news; [[ "$f" == */stocktwits/* ]] && sub=stocktwits
    name=$(basename "$f" .gz)
    if [[ "$f" == *.gz ]]; then gunzip -c "$f" > "$data/$sub/$name"; else cp "$f" "$data/$sub/$name"; fi
done
export FT_NEWS=${FT_NEWS:-$data/twitter-financial-news} FT_STOCKTWITS=${FT_STOCKTWITS:-$data/stocktwits}
export FT_BACKBONE=${FT_BACKBONE:-$(cd "$bundle" && pwd)/backbone}
note "python $("$py" -c 'import sys; print(sys.version.split()[0])'), bundle $bundle, data $(ls "$FT_NEWS" "$FT_STOCKTWITS" | tr '\n' ' ')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$OUT/run.log" >&2

# 4. The chain (its budget counts from its own start; setup took the seconds above).
"$py" training/gpu/chain.py
rc=$?
note "chain exit code $rc"
exit $rc
