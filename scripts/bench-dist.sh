#!/usr/bin/env bash
# The benchmark of issue #25: `mpirun -np N stylize --tile-size T` at 1, 2 and 4 ranks (seconds per
# evaluation, peak memory of every rank), and the collectives of one evaluation timed by bench_dist.
# On a machine whose ranks share a few cores, time per evaluation cannot fall with N: the figures show
# what the ranks cost and what the memory per rank does; docs/distributed.md models the rest.
#   scripts/bench-dist.sh [BUILD_DIR] [SIZE] [TILE] [ITERATIONS] [RANKS...]
# defaults: build 2048 256 3 "1 2 4". Needs ../shared (or NST_WEIGHTS and NST_IMAGES) and mpirun.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build} size=${2:-2048} tile=${3:-256} iterations=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2 4)
weights=${NST_WEIGHTS:-$here/../shared/weights/vgg19-conv.safetensors}
images=${NST_IMAGES:-$here/../shared/images}
for f in "$weights" "$images/chelsea.png" "$images/starry_night.jpg" "$build/stylize" "$build/bench_dist"; do
  [ -e "$f" ] || { echo "bench-dist: $f is missing (scripts/get-weights.sh fetches the weights; build first)"; exit 1; }
done
command -v mpirun > /dev/null || { echo "bench-dist: no mpirun (scripts/install-deps.sh installs openmpi-bin)"; exit 1; }
# Every byte on the loopback; root in containers; more ranks than cores.
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo \
  OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "bench-dist: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
  "stylize ${size} px, --tile-size ${tile}, ${iterations} iterations"
echo "| ranks | s per evaluation | peak memory per rank (MiB) |"
echo "|---:|---:|---|"
for n in "${ranks[@]}"; do
  log=$out/np$n.log
  mpirun -np "$n" "$build/stylize" --content-image "$images/chelsea.png" --style-image "$images/starry_night.jpg" \
    --weights "$weights" --image-size "$size" --tile-size "$tile" --num-iterations "$iterations" --gpu -1 \
    --print-iter 0 --save-iter 0 --output-image "$out/np$n.png" > "$log" 2>&1 || { cat "$log"; exit 1; }
  each=$(sed -n 's/.*(\([0-9.]*\) s each).*/\1/p' "$log")
  peaks=$(sed -n 's/^peak memory per rank (MiB): //p' "$log")
  [ -n "$peaks" ] || peaks=$(sed -n 's/.*peak memory \([0-9]*\) MiB.*/\1/p' "$log")
  echo "| $n | $each | $peaks |"
done
for n in "${ranks[@]}"; do
  [ "$n" -ge 2 ] || continue
  echo
  mpirun -np "$n" "$build/bench_dist" --image-size "$size"
done
