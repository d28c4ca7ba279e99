#!/usr/bin/env bash
# demo.sh - install, build, and run the main job: until the search arrives,
# `tgsage train` of a ResNet-8 on the embedded Fashion-MNIST data (2 epochs
# on 10,000 images, about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tgsage train --net resnet:1 --epochs 2 --train-limit 10000 --val-limit 2000 \
  --batch 32 --lr 0.03 --out build/demo.ckpt "$@"
