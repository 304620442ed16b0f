#!/usr/bin/env bash
# Installs the Debian packages the project builds with, when missing (apt-get; sudo when not root).
# Used by scripts/test.sh and scripts/demo.sh. The CUDA toolkit is not installed here: CUDA code is built
# when nvcc is already present.
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config catch2 libstb-dev libcli11-dev nlohmann-json3-dev libopenblas-dev
          libboost-context-dev libxxhash-dev libcpp-httplib-dev)
missing=()
packages+=(curl ca-certificates)  # scripts/get-weights.sh downloads the VGG-19 weights over https
packages+=(ffmpeg libopencv-video-dev)  # stylize_video: frames in and out, optical flow
packages+=(libonnx-dev libprotobuf-dev)  # stylize --model FILE.onnx: the ONNX reader
packages+=(libwebp-dev)  # WebP pictures (train_style's photos, any image flag)
packages+=(openmpi-bin libopenmpi-dev)  # several processes under mpirun (dist/)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
