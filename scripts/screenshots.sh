#!/usr/bin/env bash
# The app's screenshots in docs/screenshots/, made by the app itself (python -m app ... --screenshot).
#   bash scripts/screenshots.sh [MODEL]        (MODEL: a generator checkpoint; default: the shipped one)
# Needs the MNIST test set ($IGC_DATA, default ../shared/mnist) and the Fashion-MNIST test set ($FASHION,
# default ../shared/fashion-mnist) for the out-of-class example. Settings come from an empty temporary file,
# so the pictures never depend on the user's own settings.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen PYQTGRAPH_QT_LIB=PySide6
MODEL=${1:-}
DATA=${IGC_DATA:-../shared/mnist}
FASHION=${FASHION:-../shared/fashion-mnist}
OUT=${OUT:-docs/screenshots}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
python - "$FASHION" "$TMP" <<'EOF'
import sys
from pathlib import Path
from igc_core import data, framing
images = data.load_dataset(sys.argv[1], "test", download=False).images
framing.save_digit_png(images[0] / 255.0, Path(sys.argv[2]) / "fashion-boot.png")
Path(sys.argv[2], "notes.png").write_text("this is not an image")
EOF

shot() {  # shot NAME SIZE ARGS...
    local name=$1 size=$2
    shift 2
    python -m app ${MODEL:+--model "$MODEL"} --data "$DATA" --settings "$TMP/s.json" --size "$size" \
        --screenshot "$OUT/$name-$size.png" "$@" < /dev/null
    echo "$OUT/$name-$size.png"
}

for size in 1366x700 1920x1080; do  # a laptop and a projector
    shot in-class "$size" --mnist 0 --run
    shot searching "$size" --mnist 61 --set restarts=5 --run --pause-at 12
    shot restarts20 "$size" --mnist 61 --set restarts=20 --run
done
shot uncertain 1366x700 --mnist 92 --run
shot out-of-class 1366x700 "$TMP/fashion-boot.png" --run
shot noisy 1366x700 --mnist 0 --set noise=0.4 --run
shot start 1366x700
shot error 1366x700 "$TMP/notes.png"

# 256-colour palettes keep each picture a few tens of kilobytes
python - "$OUT" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
for path in Path(sys.argv[1]).glob("*-*x*.png"):
    Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
EOF
