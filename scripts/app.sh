#!/usr/bin/env bash
# Set up (scripts/setup.sh) and start the app on the shipped default model; arguments go to igc-app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export PYQTGRAPH_QT_LIB=PySide6
exec python -m app "$@"
