#!/usr/bin/env bash
# fuzz.sh [RUNS] - build the libFuzzer targets of fuzz/ with clang under
# AddressSanitizer + UndefinedBehaviorSanitizer and run each for RUNS
# executions (default 100000), starting from the committed fixtures as
# corpus. Prints one line per target: executions, crashes. Exits non-zero
# if any target crashed (its reproducer is left in build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100000}
command -v clang >/dev/null || { apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; }
bash scripts/setup.sh
out=build-fuzz
mkdir -p "$out"
flags="-g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude"
declare -A srcs=(
  [idx]="src/data/idx.c src/base/error.c"
  [cifar]="src/data/cifar.c src/base/error.c src/base/fileio.c"
  [npy]="src/data/npy_header.c src/data/npy_read.c src/data/npy_write.c src/base/error.c src/base/fileio.c"
  [genome]="src/space/genome.c src/space/genome_parse.c src/space/genome_dot.c src/space/space.c src/space/space_codec.c src/base/error.c -lcjson -lxxhash"
)
declare -A seeds=([idx]=tests/fixtures/idx [cifar]=tests/fixtures/cifar/bad [npy]=tests/fixtures/npy
                  [genome]=tests/fixtures/genomes)
status=0
for t in idx cifar npy genome; do
  clang $flags "fuzz/fuzz_$t.c" ${srcs[$t]} -lz -lm -o "$out/fuzz_$t"
  corpus="$out/corpus_$t"
  mkdir -p "$corpus"
  cp -n "${seeds[$t]}"/* "$corpus"/ 2>/dev/null || true
  if [ "$t" = cifar ]; then cp -n tests/fixtures/cifar/c10/*.bin "$corpus"/ 2>/dev/null || true; fi
  log="$out/fuzz_$t.log"
  set +e
  (cd "$out" && "./fuzz_$t" -runs="$runs" -max_len=20000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus_$t" >"fuzz_$t.log" 2>&1)
  rc=$?
  set -e
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  crashes=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
             -o -name 'oom-*' \) | wc -l)
  echo "fuzz_$t: executions $execs, crashes $crashes, exit $rc"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then status=1; fi
done
exit $status
