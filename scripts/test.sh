#!/usr/bin/env bash
# test.sh [--slow] [--no-asan] - install, build and run the whole test suite:
#   1. Release build, every test (the 'slow' label only with --slow);
#   2. Debug build with AddressSanitizer + UndefinedBehaviorSanitizer, every
#      test but the long training runs (label 'train'), unless --no-asan.
# Ends with CTest's summary; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
slow=0 asan=1
for a in "$@"; do
  case "$a" in
    --slow) slow=1 ;;
    --no-asan) asan=0 ;;
    *) echo "usage: scripts/test.sh [--slow] [--no-asan]" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
status=0
if [ "$asan" = 1 ]; then
  bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON
  echo "== tests under ASan/UBSan (build-asan)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" \
      -LE 'slow|train') || status=1
fi
bash scripts/build.sh build
echo "== tests, Release (build)"
if [ "$slow" = 1 ]; then
  (cd build && ctest --output-on-failure) || status=1
else
  (cd build && ctest --output-on-failure -LE slow) || status=1
fi
exit $status
