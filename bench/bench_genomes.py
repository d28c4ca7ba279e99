#!/usr/bin/python3
"""The networks a search trains: tgsage beside PyTorch on random genomes.

Usage: bench/bench_genomes.py [--build build] [--n 20] [--seed 1] [--steps 5]
                              [--repeats 1] [--threads 2] [--batch 128]
                              [--spaces layerwise:10,cell] [--out FILE.jsonl]

For each space, `tgsage sample` draws N genomes; each is timed in tgsage
(build/tgsage_bench --genome: 3 warm-up and S timed SGD steps at batch B on
random 28x28x1 images, then eval-mode inference) and, through tgsage's own
PyTorch export of the same network (--export), in Debian's python3-torch with
the same steps (as ../shared/bench/torch_baseline.py measures). The two sides
alternate, each in its own process, `repeats` rounds per genome (a genome's
figures are each side's medians over its rounds). Prints one JSON line per
genome (both sides' images/s and the ratios tgsage / torch) and one per space
with the median ratios; --out also writes the lines to a file. Only the standard
library here; the PyTorch side runs as `bench_genomes.py --torch DIR`."""
import argparse, json, os, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"   # Debian's, which has python3-torch


def torch_side(a):
    """Time the exported module in DIR (the PyTorch half of one genome)."""
    import time
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, a.torch)
    import model
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = model.Net()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    x, y = torch.randn(a.batch, 1, 28, 28), torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    train = a.batch * a.steps / (time.perf_counter() - t)
    net.eval()
    with torch.no_grad():
        for _ in range(2):
            net(x)
        t = time.perf_counter()
        for _ in range(a.steps):
            net(x)
        infer = a.batch * a.steps / (time.perf_counter() - t)
    print(json.dumps({"train_img_s": train, "infer_img_s": infer, "torch": torch.__version__}))


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--spaces", default="layerwise:10,cell")
    ap.add_argument("--out", default="")
    ap.add_argument("--torch", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch:
        return torch_side(a)
    out = open(a.out, "w") if a.out else None

    def emit(d):
        line = json.dumps(d)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    tgsage = os.path.join(a.build, "tgsage")
    bench = os.path.join(a.build, "tgsage_bench")
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--threads", str(a.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        for space in a.spaces.split(","):
            p = subprocess.run([tgsage, "sample", "--space", space, "--n", str(a.n),
                                "--seed", str(a.seed)], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"bench: tgsage sample --space {space}: {p.stderr}")
            ratios_t, ratios_i = [], []
            for i, genome in enumerate(p.stdout.splitlines()):
                gpath = os.path.join(tmp, f"g{i}.json")
                edir = os.path.join(tmp, f"e{i}")
                with open(gpath, "w") as f:
                    f.write(genome)
                runs = []
                for r in range(max(1, a.repeats)):
                    export = ["--export", edir] if r == 0 else []
                    runs.append((run_json([bench, "--genome", gpath] + export + common),
                                 run_json([PY, os.path.abspath(__file__), "--torch", edir]
                                          + common)))
                ours = {k: statistics.median(o[k] for o, _ in runs)
                        for k in ("train_img_s", "infer_img_s")}
                theirs = {k: statistics.median(t[k] for _, t in runs)
                          for k in ("train_img_s", "infer_img_s")}
                theirs["torch"] = runs[0][1]["torch"]
                rt = ours["train_img_s"] / theirs["train_img_s"]
                ri = ours["infer_img_s"] / theirs["infer_img_s"]
                ratios_t.append(rt)
                ratios_i.append(ri)
                emit({"bench": "genome", "space": space, "index": i,
                      "hash": run_json([tgsage, "show", gpath, "--json"])["hash"],
                      "tgsage_train_img_s": round(ours["train_img_s"], 1),
                      "torch_train_img_s": round(theirs["train_img_s"], 1),
                      "tgsage_infer_img_s": round(ours["infer_img_s"], 1),
                      "torch_infer_img_s": round(theirs["infer_img_s"], 1),
                      "train_ratio": round(rt, 3), "infer_ratio": round(ri, 3),
                      "torch": theirs["torch"]})
            emit({"bench": "genomes", "space": space, "n": len(ratios_t),
                  "threads": a.threads, "batch": a.batch, "steps": a.steps,
                  "repeats": max(1, a.repeats),
                  "median_train_ratio": round(statistics.median(ratios_t), 3),
                  "median_infer_ratio": round(statistics.median(ratios_i), 3),
                  "min_train_ratio": round(min(ratios_t), 3),
                  "max_train_ratio": round(max(ratios_t), 3),
                  "min_infer_ratio": round(min(ratios_i), 3)})


if __name__ == "__main__":
    main()
