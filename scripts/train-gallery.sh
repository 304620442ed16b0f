#!/usr/bin/env bash
# The gallery of a trained style network (docs/fast.md, "Quality"): stylize --model paints photos the
# network never saw (../shared/photos/val, and chelsea.png, which is not a training photo either), and one
# strip puts each photo above its picture; a multi-style network adds its styles and a blend per photo.
# Needs build/stylize and, for the montage only, Python with Pillow (the peers' venv).
# usage: scripts/train-gallery.sh MODEL.safetensors OUT.jpg [--style-mix SPEC]...   (one row per mix)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
model=$1 out=$2; shift 2
mixes=()
while (($#)); do
  [ "$1" = --style-mix ] || { echo "train-gallery: unknown argument $1" >&2; exit 1; }
  mixes+=("$2"); shift 2
done
((${#mixes[@]})) || mixes=("")
shared=${NST_SHARED:-$here/../shared}
py=${NST_PY:-$here/../venvs/torch-pypi/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
photos=("$shared/images/chelsea.png" "$shared/photos/val/gcompris-qt-data_animal_red_panda_0.jpg"
        "$shared/photos/val/gcompris-qt-data_monument_machupicchu_0.jpg" "$shared/photos/val/mate-backgrounds_garden_0.jpg"
        "$shared/photos/val/palapeli-data_cincinnati_bridge_0.jpg")
rows=()
for m in "${mixes[@]}"; do
  row=()
  for p in "${photos[@]}"; do
    o="$work/$(basename "${p%.*}")_${#rows[@]}.png"
    args=(--model "$model" --content-image "$p" --output-image "$o" --image-size 256 --gpu -1)
    [ -z "$m" ] || args+=(--style-mix "$m")
    "$here/build/stylize" "${args[@]}" > /dev/null
    row+=("$o")
  done
  rows+=("$(IFS=,; echo "${row[*]}")")
done
"$py" - "$out" "$(IFS=,; echo "${photos[*]}")" "${rows[@]}" <<'EOF'
import sys
from PIL import Image
out, photos, rows = sys.argv[1], sys.argv[2].split(","), [r.split(",") for r in sys.argv[3:]]
cell, gap = 256, 4
grid = [photos] + rows
sheet = Image.new("RGB", (len(photos) * (cell + gap) - gap, len(grid) * (cell + gap) - gap), "white")
for r, files in enumerate(grid):
    for c, f in enumerate(files):
        im = Image.open(f).convert("RGB")
        im.thumbnail((cell, cell))
        sheet.paste(im, (c * (cell + gap) + (cell - im.width) // 2, r * (cell + gap) + (cell - im.height) // 2))
sheet.save(out, quality=90)
EOF
echo "wrote $out: ${#photos[@]} photos, ${#rows[@]} row(s) of pictures"
