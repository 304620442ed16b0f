#!/usr/bin/env bash
# Fuzzes the file readers stylize trusts with outside data, with libFuzzer + ASan + UBSan (issue #7):
#   scripts/fuzz.sh SECONDS [TARGET...]     # each target for SECONDS; targets: safetensors torch_checkpoint image onnx
# Installs clang and libclang-rt (Debian) if missing, builds fuzz_<target> in build-fuzz/, runs each
# target on a working copy of its seed corpus (fuzz/corpus/<target>/, never modified), one process, and
# prints a line per target: seconds, executions, corpus size, findings. A finding is saved in
# build-fuzz/findings/<target>/ and the script exits 1: minimise it, fix the reader, and commit the input
# to fuzz/regressions/<target>/ so that ctest replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors torch_checkpoint image onnx)
case $seconds in *[!0-9]*|'') echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2;; esac

scripts/install-deps.sh
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/*/libclang_rt.fuzzer*.a >/dev/null 2>&1; then
  echo "== installing clang and libclang-rt (libFuzzer)"
  [ "$(id -u)" = 0 ] && sudo= || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
fi

build=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DNST_CUDA=OFF -DNST_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")

status=0
summary=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t" findings="$build/findings/$t" log="$build/fuzz_$t.log"
  mkdir -p "$work" "$findings"
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  echo "== fuzzing $t for $seconds s (log: $log)"
  # -rss_limit_mb / -malloc_limit_mb: a reader that trusts a declared size and allocates gigabytes is a
  # finding too. -timeout: one input taking over 10 s is a hang.
  if "$build/fuzz/fuzz_$t" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
       -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1; then
    result="no finding"
  else
    result="FINDING: $(ls "$findings" | head -n 3 | tr '\n' ' ')"
    status=1
  fi
  execs=$(awk '/stat::number_of_executed_units/{print $2}' "$log")
  summary+=("$(printf '%-17s %6s s  %10s executions  %5s corpus files  %s' "$t" "$seconds" "${execs:-?}" "$(ls "$work" | wc -l)" "$result")")
done
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $status
