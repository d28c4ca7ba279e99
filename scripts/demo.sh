#!/usr/bin/env bash
# demo.sh - install, build, and run the main job. Until the search arrives it
# is training: a ResNet-8 (resnet:1) for 2 epochs on the embedded
# Fashion-MNIST data (55,000 training images, 5,000 held out for
# validation) with the paper's augmentation and a checkpoint after the first
# epoch, then its accuracy on the 10,000 test images. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build
./build/tgsage train --net resnet:1 --epochs 2 --checkpoint-at 1 --out build/demo.ckpt "$@"
./build/tgsage eval --ckpt build/demo.ckpt --split test
