#!/usr/bin/env bash
# The live preview as a browser shows it (run by ctest): headless Chromium screenshots the page that
# tests/preview_demo serves:
#  1. before any frame, and after 180 made-up iterations with the browser's images turned off: the
#     screenshot check must call both blank, so it can fail and it needs the image, not just the curves;
#  2. after 180 made-up iterations: the screenshot must show the image and the curves (many colours).
# Without Chromium the test is skipped (exit 77, ctest's SKIP_RETURN_CODE), never passed.
# usage: preview_screenshot.sh PREVIEW_DEMO OUT.png   (OUT.png: the second screenshot, kept)
set -euo pipefail
demo=$1 out=$2
browser=""
for b in chromium chromium-browser google-chrome; do
  command -v "$b" > /dev/null && { browser=$b; break; }
done
if [ -z "$browser" ]; then
  echo "NST_SKIPPED: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)"
  exit 77
fi
work=$(mktemp -d)
pid="" served=0
cleanup() { [ -n "$pid" ] && kill "$pid" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Starts preview_demo with the given arguments and sets $url once it prints it (a condition, polled).
serve() {
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2> /dev/null || true; }
  served=$((served + 1))
  local log="$work/demo$served.out"  # a new file each time: never the previous server's URL
  "$demo" --seconds 120 "$@" > "$log" 2>&1 & pid=$!
  url=""
  for _ in $(seq 1 200); do
    url=$(sed -n 's/^preview: //p' "$log" 2> /dev/null)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2> /dev/null || { echo "FAIL: preview_demo exited:"; cat "$log"; exit 1; }
    sleep 0.05
  done
  echo "FAIL: preview_demo printed no URL in 10 s"; exit 1
}

# The virtual-time budget lets the page's first poll, image load and drawing finish before the shot.
shoot() {
  rm -f "$2"
  local url=$1 file=$2
  shift 2
  timeout 90 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/profile" --window-size=1000,700 --virtual-time-budget=5000 \
    --screenshot="$file" "$@" "$url" > "$work/browser.log" 2>&1 || true
  [ -s "$file" ] || { echo "FAIL: $browser wrote no screenshot of $url:"; tail -20 "$work/browser.log"; exit 1; }
}

echo "the page before the first frame, which the check must call blank:"
serve --iterations 0
shoot "$url" "$work/empty.png"
if "$demo" --check-screenshot "$work/empty.png"; then
  echo "FAIL: the check calls the page without image and curves non-blank: it cannot tell"; exit 1
fi

serve --iterations 180
echo "the page after 180 iterations with images turned off, which the check must call blank:"
shoot "$url" "$work/no_image.png" --blink-settings=imagesEnabled=false
if "$demo" --check-screenshot "$work/no_image.png"; then
  echo "FAIL: the check passes the page with its image turned off (--blink-settings=imagesEnabled=false)"; exit 1
fi
echo "the page after 180 iterations:"
shoot "$url" "$out"
"$demo" --check-screenshot "$out" || { echo "FAIL: the live preview page looks blank"; exit 1; }
echo "preview page screenshot ok ($browser): $out"
