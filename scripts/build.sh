#!/usr/bin/env bash
# build.sh [DIR [CMAKE_ARGS...]] - configure and build tgsage into DIR
# (default build/, Release). Installs missing packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
