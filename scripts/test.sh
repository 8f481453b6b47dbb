#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen PYQTGRAPH_QT_LIB=PySide6
# the .mp4/.webm recording tests need the video extra (about 68 MB, so scripts/setup.sh leaves it to those who want it)
if ! python -c "import imageio.v2, imageio_ffmpeg" 2>/dev/null; then
    echo "igc test: installing the video extra (imageio, imageio-ffmpeg) for the .mp4/.webm tests" >&2
    python -m pip install -q -e ".[video]" \
        || echo "igc test: could not install the video extra: the .mp4/.webm tests will be skipped" >&2
fi
python -m ruff check .  # the rules are in pyproject.toml
python -m pytest "$@"
