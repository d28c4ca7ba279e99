#!/usr/bin/env bash
# demo.sh - install, build, and run the main job: a teacher-guided
# architecture search (TG-SAGE) on the embedded Fashion-MNIST data.
#   1. the teacher: a ResNet-8 (resnet:1) trained for 1 epoch on the
#      training split (58,000 images; 2,000 held out for validation), and its
#      layers L1-L3 as category RDMs on 1,000 validation images (kept in
#      build/demo and reused by later runs);
#   2. a TPE search of 24 trials (the first 10 random) in layerwise:10 with
#      filters {8, 16, 32}, each candidate trained for 1 epoch on the first
#      3,000 training images and scored P + TG (P on the 2,000 held-out
#      images), 2 local workers on a SQLite study;
#   3. the rerank: the best 3 trained again for 2 epochs on the first 12,000
#      training images (the same held-out images), as the study demo.rerank;
#      its table is the results: search score, P and TG beside the reranked
#      P, TG and score, the parameters, and the cost in examples;
#   4. the HTML report of both studies (build/demo/report.html).
# 4 min 34 s measured on a 2-core AMD EPYC Zen 4 (AVX-512) machine (teacher
# 0:45, search 2:10, rerank 1:40), after the build. Running it again resumes
# the studies (done: it only prints the results and rewrites the report);
# delete build/demo/search.db to search again.
#
# The scale can be changed through the environment (the suite runs a tiny
# one): TG_DEMO_DIR, TG_DEMO_BIN (a built tgsage: no build step),
# TG_DEMO_TEACHER_EPOCHS [1], TG_DEMO_TRIALS [24], TG_DEMO_STARTUP [10],
# TG_DEMO_EPOCHS [1], TG_DEMO_TRAIN_LIMIT [3000], TG_DEMO_WORKERS [2],
# TG_DEMO_TOP [3], TG_DEMO_RERANK_EPOCHS [2], TG_DEMO_RERANK_LIMIT [12000].
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${TG_DEMO_BIN:-}" ]; then
  tgsage=$TG_DEMO_BIN
else
  bash scripts/build.sh build
  tgsage=./build/tgsage
fi
dir=${TG_DEMO_DIR:-build/demo}
teacher_epochs=${TG_DEMO_TEACHER_EPOCHS:-1}
trials=${TG_DEMO_TRIALS:-24}
startup=${TG_DEMO_STARTUP:-10}
epochs=${TG_DEMO_EPOCHS:-1}
limit=${TG_DEMO_TRAIN_LIMIT:-3000}
workers=${TG_DEMO_WORKERS:-2}
top=${TG_DEMO_TOP:-3}
rerank_epochs=${TG_DEMO_RERANK_EPOCHS:-2}
rerank_limit=${TG_DEMO_RERANK_LIMIT:-12000}
space=layerwise:10:filters=8,16,32
mkdir -p "$dir"

teacher=$dir/resnet8-e$teacher_epochs.teacher
if [ -s "$teacher" ]; then
  echo "== teacher: $teacher (from an earlier run)"
else
  echo "== teacher: resnet:1, $teacher_epochs epoch(s) on Fashion-MNIST"
  "$tgsage" train --net resnet:1 --epochs "$teacher_epochs" --val 2000 \
    --out "$dir/teacher.ckpt"
  "$tgsage" teacher --ckpt "$dir/teacher.ckpt" --layers L1,L2,L3 --n 1000 --val 2000 \
    -o "$teacher"
fi

db=sqlite:///$dir/search.db
echo "== search: TPE ($startup random start-up trials), $trials trials of $space,"
echo "   $epochs epoch(s) on $limit images each, score P + TG, $workers workers"
echo "   ($db, study demo)"
"$tgsage" search --db "$db" --study demo --space "$space" --algo tpe \
  --teacher "$teacher" --epochs "$epochs" --val 2000 --train-limit "$limit" \
  --trials "$trials" --tpe-startup "$startup" \
  --workers "$workers" --threads 1

echo "== rerank: the best $top trained again, $rerank_epochs epochs on $rerank_limit images"
echo "   (study demo.rerank; the same held-out images), the results table"
"$tgsage" rerank --db "$db" --study demo --top "$top" --epochs "$rerank_epochs" \
  --train-limit "$rerank_limit" --workers "$workers" --threads 1

echo "== the report"
"$tgsage" report --db "$db" --study demo -o "$dir/report.html"
echo "(genomes: tgsage best --db $db --study demo --json;"
echo " every trial: tgsage trials --db $db --study demo --format csv)"
