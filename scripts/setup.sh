#!/usr/bin/env bash
# Create .venv (if missing) and install igc into it, only when needed: the first time, or after
# pyproject.toml changed. torch is installed first, on its own, so that the project's open torch range
# does not pull a different build:
#   IGC_TORCH        the torch requirement (default torch==2.13.0; pip takes whatever build its index
#                    serves for this machine: on PyPI for Linux x86_64 that is the CUDA build)
#   IGC_TORCH_INDEX  an index to take torch from, e.g. https://download.pytorch.org/whl/cpu (CPU only,
#                    smaller) or https://download.pytorch.org/whl/cu128 (NVIDIA GPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
say() { echo "igc setup: $*" >&2; }  # a first start takes minutes: say what is happening, so it never looks hung
if [ ! -x .venv/bin/python ]; then
    say "creating the virtual environment .venv (first start only)"
    "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.igc-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && python -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('igc_core') and u.find_spec('torch')))" 2>/dev/null; then
    exit 0  # installed, and pyproject.toml has not changed since
fi
say "installing igc and its dependencies into .venv (first start, or pyproject.toml changed)"
python -m pip install -q --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
    say "downloading torch (${IGC_TORCH:-torch==2.13.0}): several hundred MB, this can take minutes; pip shows its progress"
    python -m pip install --progress-bar on "${IGC_TORCH:-torch==2.13.0}" ${IGC_TORCH_INDEX:+--index-url "$IGC_TORCH_INDEX"}
fi
say "installing the igc package and the rest of its dependencies"
python -m pip install -q -e ".[test]"
echo "$want" > "$stamp"
say "ready"
