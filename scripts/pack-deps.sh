#!/usr/bin/env bash
# Copies the header-only dependencies (Catch2 with its CMake files, CLI11, nlohmann-json, stb, xxHash), and
# libonnx with protobuf, from this machine's Debian packages into ./.deps (git-ignored), for a machine that
# has no apt: the GPU machine.
# Pass `.deps` in the device call's `carry`; scripts/gpu-check.sh adds it to CMAKE_PREFIX_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .deps
mkdir -p .deps/include .deps/lib/cmake
copy() { [ -e "$1" ] && cp -r "$1" "$2" || echo "pack-deps: $1 not found (install the Debian package first)" >&2; }
copy /usr/include/catch2 .deps/include/
copy /usr/lib/cmake/Catch2 .deps/lib/cmake/
copy /usr/include/CLI .deps/include/
copy /usr/include/nlohmann .deps/include/
copy /usr/include/stb .deps/include/
copy /usr/include/xxhash.h .deps/include/
for d in /usr/share/cmake/CLI11 /usr/lib/cmake/CLI11 /usr/share/cmake/nlohmann_json /usr/lib/cmake/nlohmann_json; do
  [ -d "$d" ] && cp -r "$d" .deps/lib/cmake/
done
# Catch2 v2's config also names its prebuilt main library; the tests do not use it, but find_package
# checks that the file exists.
[ -e /usr/lib/libCatch2WithMain.a ] && cp /usr/lib/libCatch2WithMain.a .deps/lib/
# The ONNX reader's libraries (libonnx-dev, libprotobuf-dev: headers, shared libraries, CMake files), about
# 8 MB; scripts/gpu-verify.sh falls back to -DNST_ONNX=OFF where they do not configure.
arch=x86_64-linux-gnu
if [ -e /usr/include/onnx/onnx_pb.h ] && [ -d /usr/include/google/protobuf ]; then
  mkdir -p .deps/lib/$arch/cmake
  cp -r /usr/include/onnx /usr/include/google .deps/include/
  # ONNX's CMake files check that every library they name exists, so all of them come along.
  cp -a /usr/lib/$arch/libonnx_proto.so* /usr/lib/$arch/libonnx.so* /usr/lib/$arch/libonnxifi* .deps/lib/$arch/
  cp -r /usr/lib/$arch/cmake/ONNX .deps/lib/$arch/cmake/
  cp -a /usr/lib/$arch/libprotobuf.so* .deps/lib/
else
  echo "pack-deps: libonnx-dev or libprotobuf-dev missing: the GPU build will have no ONNX reader" >&2
fi
# The real weights and a content/style pair, for the GPU timing of stylize (the whole call may carry 64 MiB).
if [ -f ../shared/weights/vgg19-conv.safetensors ]; then
  mkdir -p .deps/data
  cp ../shared/weights/vgg19-conv.safetensors ../shared/images/chelsea.png ../shared/images/starry_night.jpg .deps/data/
fi
du -sh .deps
