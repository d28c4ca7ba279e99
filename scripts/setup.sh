#!/usr/bin/env bash
# setup.sh - install every Debian package tgsage needs to build, test and
# benchmark. Idempotent: when everything is there it only checks (dpkg -s)
# and returns in well under a second. Run as root (or with sudo available).
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
  postgresql               # a real server for the tracker's tests (started by them)
  slurm-wlm munge          # a real single-node Slurm for the cluster tests
  dataset-fashion-mnist    # the embedded default dataset
  python3-torch python3-numpy   # the export parity test runs the exported module
)
# fixture generators and the peers of the benchmarks (optional for the build
# and the suite)
if [ "${TG_SETUP_BENCH:-${TG_SETUP_TORCH:-0}}" = 1 ]; then
  PKGS+=(python3-scipy python3-optuna python3-psycopg2)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
