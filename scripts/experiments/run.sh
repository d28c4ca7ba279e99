#!/usr/bin/env bash
# run.sh - the experiments of docs/results.md (the paper's sections 4.1 and
# 4.2 at this machine's scale), every one through the tracker, so running
# this again resumes whatever an interruption cut short.
#
#   run.sh teacher   the teacher: ResNet-20 (resnet:3), 6 epochs (cosine) on
#                    the training split (55,000 images; 5,000 held out), and
#                    three teacher files of its L1-L3 on the first images of
#                    the 2,000-image validation split: category RDMs of 1,000
#                    images (tgsage's default), category and image RDMs of 500
#   run.sh pool      the predictivity pool: 100 random genomes of SPACE, each
#                    trained for 2 epochs (the "mature" budget) with points at
#                    0.1, 0.25, 0.5 and 1 epoch (and the end), against the three
#                    teachers
#   run.sh search    27 searches: random, TPE and RL x {P at E1, P + 4 TG at
#                    E1, P at 10 E1} x seeds 1-3, 20 trials each (E1 = 0.1
#                    epoch; alpha 4 and the category-1,000 teacher are the
#                    pool's best P + alpha TG at 0.1 epoch, chosen on the
#                    pool's seed-0 genomes, not on these searches); then each
#                    search's best TOP trials retrained to maturity (tgsage
#                    rerank, the mature 2 epochs)
#   run.sh export    the raw results as CSV under scripts/experiments/results,
#                    the raw-pixel floor of each teacher (tgsage tg --pixels),
#                    the reports (tgsage report) of the pool and the searches,
#                    and the tables of docs/results.md (tables.py, tables.md)
#
# Training everywhere: the first 5,000 training images, batch 32, the short
# preset (SGD, Nesterov momentum 0.9, lr 0.05, cosine, weight decay 5e-4,
# crop and flip), validation on the 2,000 held-out images (split seed 0).
# Environment: TG_EXP_DIR [build/experiments], TG_EXP_BIN [build/tgsage],
# TG_EXP_TOP [5], TG_EXP_SEEDS ["1 2 3"], TG_EXP_THREADS [1], TG_EXP_SHARD
# [0/1]: K/N runs the searches (and reranks) numbered K mod N of the list,
# so N runs side by side share the work (one database; each study is one
# run's).
set -euo pipefail
cd "$(dirname "$0")/../.."
tgsage=${TG_EXP_BIN:-./build/tgsage}
dir=${TG_EXP_DIR:-build/experiments}
top=${TG_EXP_TOP:-5}
seeds=${TG_EXP_SEEDS:-1 2 3}
threads=${TG_EXP_THREADS:-1}
shard=${TG_EXP_SHARD:-0/1}
results=scripts/experiments/results
space=layerwise:10:filters=8,16,32:kernels=1,3,5
data=(--train-limit 5000 --val 2000 --split-seed 0 --batch 32)
mature=2
e1=0.1
trials=20
mkdir -p "$dir"

teachers() {
  local ck=$dir/teacher-resnet20.ckpt
  if [ ! -s "$ck" ]; then
    "$tgsage" train --net resnet:3 --epochs 6 --val 5000 --threads 0 --out "$ck" --json \
      > "$dir/teacher-train.json"
  fi
  [ -s "$dir/cat1000.teacher" ] || "$tgsage" teacher --ckpt "$ck" --layers L1,L2,L3 \
    --n 1000 --unit category --val 2000 -o "$dir/cat1000.teacher"
  [ -s "$dir/cat500.teacher" ] || "$tgsage" teacher --ckpt "$ck" --layers L1,L2,L3 \
    --n 500 --unit category --val 2000 -o "$dir/cat500.teacher"
  [ -s "$dir/img500.teacher" ] || "$tgsage" teacher --ckpt "$ck" --layers L1,L2,L3 \
    --n 500 --unit image --val 2000 -o "$dir/img500.teacher"
}

pool() {
  "$tgsage" pool --db "sqlite:///$dir/pool.db" --study pool --space "$space" --n 100 \
    --seed 0 --epochs "$mature" --at 0.1,0.25,0.5,1 "${data[@]}" \
    --teacher "$dir/cat1000.teacher" --teacher "$dir/cat500.teacher" \
    --teacher "$dir/img500.teacher" --workers "${TG_EXP_POOL_WORKERS:-1}" --threads "$threads"
}

# name algo seed score epochs
one_search() {
  local args=(--db "sqlite:///$dir/search.db" --study "$1" --space "$space" --algo "$2"
              --seed "$3" --score "$4" --epochs "$5" --trials "$trials" "${data[@]}"
              --workers 1 --threads "$threads")
  [ "$2" = tpe ] && args+=(--tpe-startup 8)
  [ "$4" = p+tg ] && args+=(--teacher "$dir/cat1000.teacher" --alpha 4)
  "$tgsage" search "${args[@]}"
}

all_search_names() {
  for seed in $seeds; do
    for algo in random tpe rl; do
      echo "$algo-p-e1-s$seed $algo $seed p $e1"
      echo "$algo-ptg-e1-s$seed $algo $seed p+tg $e1"
      echo "$algo-p-10e1-s$seed $algo $seed p $(awk "BEGIN{print 10*$e1}")"
    done
  done
}

# this run's share of them (TG_EXP_SHARD)
search_names() {
  all_search_names | awk -v k="${shard%/*}" -v n="${shard#*/}" '(NR - 1) % n == k'
}

searches() {
  # the searches first, then their top trials matured, in rounds of growing
  # depth (the best 1, then 3, then TOP of every search), so that an
  # interrupted run has the best of every search matured first
  while read -r name algo seed score epochs; do
    one_search "$name" "$algo" "$seed" "$score" "$epochs"
  done < <(search_names)
  for k in 1 3 "$top"; do
    [ "$k" -le "$top" ] || continue
    while read -r name _; do
      "$tgsage" rerank --db "sqlite:///$dir/search.db" --study "$name" --top "$k" \
        --epochs "$mature" --workers 1 --threads "$threads"
    done < <(search_names)
  done
}

export_csv() {
  mkdir -p "$results/searches" "$results/floors"
  cp "$dir/teacher-train.json" "$results/teacher-train.json"
  for t in cat1000 cat500 img500; do   # TG's floor: the raw images against each teacher
    "$tgsage" tg --teacher "$dir/$t.teacher" --pixels --val 2000 --json > "$results/floors/$t.json"
  done
  "$tgsage" trials --db "sqlite:///$dir/pool.db" --study pool --format csv > "$results/pool.csv"
  "$tgsage" analyze --db "sqlite:///$dir/pool.db" --study pool --csv "$results/analysis.csv" \
    > "$results/analysis.txt"
  while read -r name _; do
    for s in "$name" "$name.rerank"; do
      "$tgsage" trials --db "sqlite:///$dir/search.db" --study "$s" --format csv \
        > "$results/searches/$s.csv" 2>/dev/null || rm -f "$results/searches/$s.csv"
    done
  done < <(all_search_names)
  "$tgsage" report --db "sqlite:///$dir/pool.db" -o "$results/pool-report.html"
  "$tgsage" report --db "sqlite:///$dir/search.db" -o "$results/search-report.html"
  /usr/bin/python3 scripts/experiments/tables.py > "$results/tables.md"
}

case "${1:-}" in
  teacher) teachers ;;
  pool) teachers; pool ;;
  search) teachers; searches ;;
  export) export_csv ;;
  *) echo "usage: $0 teacher|pool|search|export" >&2; exit 2 ;;
esac
