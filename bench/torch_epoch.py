#!/usr/bin/python3
"""PyTorch side of the one-epoch benchmark: ResNet-20 (resnet:3) for one epoch
on Fashion-MNIST's training split less 5,000 validation images, batch 128,
SGD Nesterov 0.9, lr 0.1 cosine, weight decay 5e-4, the paper's augmentation
done in torch (zero-pad 4, random 28x28 crop, random horizontal flip,
per-image standardisation). Prints one JSON line with the wall time of the
epoch (data preparation included, as tgsage's is) and the validation accuracy.

Run with Debian's python3-torch: bench/torch_epoch.py [--threads 2] [--limit N]"""
import argparse, gzip, json, math, os, sys, time

import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "shared", "bench"))
from torch_baseline import ResNet  # noqa: E402  (the same network as the engine bench)

DIR = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(os.path.join(DIR, name)) as f:
        data = f.read()
    if data[2] == 8 and data[3] == 3:
        n, h, w = np.frombuffer(data[4:16], ">i4")
        return np.frombuffer(data[16:], np.uint8).reshape(n, 1, h, w)
    return np.frombuffer(data[8:], np.uint8).astype(np.int64)


def standardize(x):
    flat = x.flatten(1)
    mean = flat.mean(1, keepdim=True)
    sd = flat.std(1, unbiased=False, keepdim=True).clamp_min(1.0 / math.sqrt(flat.shape[1]))
    return ((flat - mean) / sd).view_as(x)


def augment(x, g):
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=g)
    dx = torch.randint(0, 9, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(28)[None, :])            # n x 28
    cols = (dx[:, None] + torch.arange(28)[None, :])
    out = padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]
    flip = torch.rand(n, generator=g) < 0.5
    out[flip] = out[flip].flip(-1)
    return standardize(out.unsqueeze(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz").astype(np.float32))
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz"))
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g)
    val, tr = perm[:5000], perm[5000:]
    if a.limit:
        tr = tr[:a.limit]
    model = ResNet(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    steps = math.ceil(len(tr) / 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    t0 = time.perf_counter()
    model.train()
    order = tr[torch.randperm(len(tr), generator=g)]
    for s in range(steps):
        b = order[s * 128:(s + 1) * 128]
        xb = augment(x[b], g)
        opt.zero_grad()
        F.cross_entropy(model(xb), y[b]).backward()
        opt.step()
        sched.step()
    secs = time.perf_counter() - t0
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, 5000, 500):
            b = val[i:i + 500]
            right += (model(standardize(x[b])).argmax(1) == y[b]).sum().item()
    print(json.dumps({"name": "resnet20_epoch", "side": "torch", "images": len(tr),
                      "seconds": round(secs, 2), "img_s": round(len(tr) / secs, 1),
                      "val_accuracy": right / 5000, "threads": a.threads}), flush=True)


if __name__ == "__main__":
    main()
