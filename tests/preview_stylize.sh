#!/usr/bin/env bash
# stylize --preview-port with the real binary (run by ctest): the URL is printed, the page, the image
# and the state answer over HTTP while the run goes on, a request naming another Host is refused (403),
# a second run on the same port is refused before any work, and a run that ends keeps serving its
# finished state (--preview-linger -1: until Ctrl-C, which then ends it with the image written).
# usage: preview_stylize.sh STYLIZE FIXTURES_DIR WORK_DIR
set -euo pipefail
stylize=$1 fx=$2 work=$3
command -v curl >/dev/null || { echo "NST_SKIPPED: curl is not installed"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
url_in() {  # the URL a run prints as 'live preview: URL', once it has; fails the test after 10 s
  local url=""
  for _ in $(seq 1 200); do
    url=$(sed -nE 's/^live preview: (http:[^ ]+)$/\1/p' "$1")
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.05
  done
  echo "FAIL: no 'live preview: URL' line in $1" >&2; cat "$1" >&2; exit 1
}
args=(--content-image "$fx/vgg_preview.png" --style-image "$fx/tiny_rgb.png" --weights "$fx/vgg_tiny.safetensors"
      --image-size 48 --print-iter 0 --save-iter 0 --gpu -1)
"$stylize" "${args[@]}" --num-iterations 3000 --output-image run.png --preview-port 0 > run.log 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
url=$(url_in run.log)
# The state, once the run has published a frame with an iteration.
it=0
for _ in $(seq 1 200); do
  it=$(curl -fsS "${url}state.json" | sed -nE 's/.*"iteration":([0-9]+).*/\1/p' || true)
  [ "${it:-0}" -gt 0 ] && break
  sleep 0.05
done
[ "${it:-0}" -gt 0 ] || { echo "FAIL: /state.json never showed an iteration"; exit 1; }
# Each body is read whole before grep looks at it: with pipefail, `curl | grep -q` fails whenever grep
# stops reading before curl has written everything (SIGPIPE), which depends on timing.
state=$(curl -fsS "${url}state.json")
grep -q '"total":3000' <<<"$state" || { echo "FAIL: /state.json lacks the total"; exit 1; }
grep -q '"style relu1_1"' <<<"$state" || { echo "FAIL: /state.json lacks the labelled terms"; exit 1; }
page=$(curl -fsS "$url")
grep -q '<img' <<<"$page" || { echo "FAIL: the page has no <img>"; exit 1; }
curl -fsS "${url}image.png" -o frame.png
[ "$(head -c 8 frame.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "FAIL: /image.png is not a PNG"; exit 1; }
history=$(curl -fsS "${url}history.json")
grep -q '"total":\[\[' <<<"$history" || { echo "FAIL: /history.json has no curve of the total"; exit 1; }
# A page of another site that a DNS-rebinding attack points at this port: refused.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: attacker.test' "${url}image.png")
[ "$code" = 403 ] || { echo "FAIL: /image.png with Host attacker.test answered $code, not 403"; exit 1; }
port=${url##*:}; port=${port%/}
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$port" "${url}state.json")
[ "$code" = 200 ] || { echo "FAIL: /state.json with Host localhost answered $code"; exit 1; }
# The same port again: refused at once, naming the flag.
if "$stylize" "${args[@]}" --num-iterations 2 --output-image second.png --preview-port "$port" > second.log 2>&1; then
  echo "FAIL: a second run bound the same port"; exit 1
fi
grep -q -- "--preview-port $port" second.log || { echo "FAIL: the refusal does not name --preview-port"; cat second.log; exit 1; }
[ ! -e second.png ] || { echo "FAIL: the refused run wrote an image"; exit 1; }
kill -INT $pid; wait $pid 2>/dev/null || true

# A run that ends: its finished state is served on (until Ctrl-C here), the page's last image with it.
"$stylize" "${args[@]}" --num-iterations 4 --output-image done.png --preview-port 0 --preview-linger -1 \
  > done.log 2>&1 & pid=$!
url=$(url_in done.log)
state=""
for _ in $(seq 1 600); do
  state=$(curl -fsS "${url}state.json" || true)
  grep -q '"finished":true' <<<"$state" && break
  sleep 0.05
done
grep -q '"finished":true' <<<"$state" || { echo "FAIL: the finished state was never served: $state"; cat done.log; exit 1; }
grep -q '"message":"done: wrote done.png"' <<<"$state" || { echo "FAIL: the finished state lacks its message: $state"; exit 1; }
grep -q '"iteration":4' <<<"$state" || { echo "FAIL: the finished state is not the last iteration: $state"; exit 1; }
curl -fsS "${url}image.png" -o last.png
sleep 1
kill -0 $pid 2>/dev/null || { echo "FAIL: --preview-linger -1 did not keep serving"; cat done.log; exit 1; }
grep -q 'preview: the finished page stays at .* until Ctrl-C' done.log || { echo "FAIL: the linger is not said"; cat done.log; exit 1; }
kill -INT $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 0 ] || { echo "FAIL: Ctrl-C during the linger ended with $rc, not 0"; cat done.log; exit 1; }
[ -s done.png ] || { echo "FAIL: done.png was not written"; exit 1; }
trap - EXIT
echo "preview_stylize: iteration $it served at $url (page, image, state, history); Host attacker.test got 403;" \
  "the port in use was refused; the finished state was served until Ctrl-C, which ended the run with rc 0"
