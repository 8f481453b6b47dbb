#!/usr/bin/env bash
# The teaching mode's screenshots in docs/screenshots/teach-*.png, made by the app itself (--screenshot).
#   bash scripts/teaching_screenshots.sh [MODEL] [NAME...]   (MODEL: a generator checkpoint, "" for the shipped one;
#                                                             NAMEs: only these shots)
# Needs the MNIST test set ($IGC_DATA, default ../shared/mnist). Settings come from an empty temporary file.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen PYQTGRAPH_QT_LIB=PySide6
MODEL=${1:-}
shift || true
ONLY=" $* "
DATA=${IGC_DATA:-../shared/mnist}
OUT=${OUT:-docs/screenshots}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

shot() {  # shot NAME SIZE ARGS...
    local name=$1 size=$2
    shift 2
    if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
    rm -f "$TMP/s.json"
    python -m app ${MODEL:+--model "$MODEL"} --data "$DATA" --settings "$TMP/s.json" --size "$size" \
        --screenshot "$OUT/teach-$name-$size.png" "$@" < /dev/null
    echo "$OUT/teach-$name-$size.png"
}

shot start 1366x700 --set restarts=5                                   # before a run: where each class starts
shot narration 1366x700 --mnist 61 --set restarts=5 --run --pause-at 12  # mid-search, the narration line
shot why 1366x700 --mnist 92 --run --tab why                           # winner vs runner-up, difference images
shot differences 1366x700 --mnist 92 --run --grid differences --tab why
shot differences 1920x1080 --mnist 92 --set restarts=5 --run --grid differences --tab why
shot latent 1366x700 --mnist 0 --set restarts=5 --run --tab latent     # the latent paths, 10 classes x 5 restarts
shot latent 1920x1080 --mnist 0 --set restarts=5 --run --tab latent
shot ghost 1366x700 --mnist 0 --sweep lambda_lr=0.3,0.03                 # the previous run as faint curves
shot sweep 1366x700 --mnist 0 --sweep lambda_lr=0,0.01,0.03,0.1,0.3 --tab compare
shot attack 1366x700 --mnist 0 --attack pgd:0.2 --tab attack
for size in 1920x1080 1280x720; do  # a projector, a small projector
    shot presentation "$size" --mnist 0 --presentation --run
    shot presentation-why "$size" --mnist 92 --presentation --run --tab why
done

# 256-colour palettes keep each picture a few tens of kilobytes
python - "$OUT" <<'PY'
import sys
from pathlib import Path
from PIL import Image
for path in Path(sys.argv[1]).glob("teach-*-*x*.png"):
    Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
PY
