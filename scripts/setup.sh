#!/usr/bin/env bash
# setup.sh - install every Debian package tgsage needs to build, test and
# benchmark, and the report's browser libraries (npm ci in web/).
# Idempotent: when everything is there it only checks (dpkg -s, a copy of
# web/package-lock.json) and returns in well under a second. Run as root (or
# with sudo available).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libopenblas-openmp-dev   # GEMM, on the same OpenMP pool as oneDNN
  libdnnl-dev              # oneDNN convolution primitives
  ocl-icd-opencl-dev opencl-headers   # oneDNN's CMake config asks for OpenCL
  zlib1g-dev               # gzip'd IDX files
  libcjson-dev             # JSON
  libxxhash-dev            # dataset fingerprints (XXH3-128)
  libcmocka-dev            # unit tests
  libsqlite3-dev           # the tracker's embedded database
  libpq-dev                # the tracker on PostgreSQL
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev   # ONNX export (onnx.proto)
  postgresql               # a real server for the tracker's tests (started by them)
  slurm-wlm munge          # a real single-node Slurm for the cluster tests
  dataset-fashion-mnist    # the embedded default dataset
  python3-torch python3-numpy   # the export parity test runs the exported module
  python3-onnx             # ... and checks the exported ONNX model
  python3-scipy            # references of the statistics tests (test_rsa, test_analysis)
  chromium fonts-liberation   # the report's browser test (headless) and its text
)
# fixture generators and the peers of the benchmarks (optional for the build
# and the suite)
if [ "${TG_SETUP_BENCH:-${TG_SETUP_TORCH:-0}}" = 1 ]; then
  PKGS+=(python3-optuna python3-psycopg2)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm (for the report's browser libraries below) only when there is none:
# a Node.js from elsewhere (NodeSource's nodejs carries its own npm) must
# not be replaced by Debian's
command -v npm >/dev/null 2>&1 || missing+=(npm)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The report's browser libraries (vega, vega-lite, vega-embed, pinned in
# web/package-lock.json), which the build inlines into every report: npm ci
# when web/node_modules is missing or was installed from another lock file
# (the copy of the lock kept beside it says which).
WEB="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web"
STAMP="$WEB/node_modules/.tgsage-package-lock.json"
if ! cmp -s "$WEB/package-lock.json" "$STAMP" 2>/dev/null; then
  echo "setup: npm ci in $WEB (the report's browser libraries)" >&2
  (cd "$WEB" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  cp "$WEB/package-lock.json" "$STAMP"
fi
