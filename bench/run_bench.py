#!/usr/bin/python3
"""Engine benchmark: tgsage beside PyTorch, side by side in one run.

Usage: bench/run_bench.py [--build build] [--threads 2] [--repeats 3] [--steps 20]
                          [--only NAME] [--backend dnnl] [--epoch]

For each benchmark network of DESIGN.md (candidate6 and resnet20 at batch 128,
small3 at batch 32) it alternates runs of build/tgsage_bench and of the PyTorch
baseline (../shared/bench/torch_baseline.py, Debian's python3-torch), each in
its own process so peak resident memory is per side, `repeats` times, and
prints one JSON line per network with the medians and the ratios
(tgsage / torch). Without torch the torch fields are null. Then one line for
the loader: augmented images/s it delivers, against resnet20's training
images/s. With --epoch, one more line: `tgsage train --net resnet:3` for one
epoch on Fashion-MNIST (55,000 images, batch 128) against the same epoch in
PyTorch with the augmentation done in torch (bench/torch_epoch.py), wall time.
Only the Python standard library is used here."""
import argparse, json, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NETS = [("candidate6", "candidate6", 128), ("resnet20", "resnet:3", 128), ("small3", "small3", 32)]


def child(cmd, env=None):
    """Run cmd with wait4 to get its own peak RSS (MB) and its JSON line."""
    import tempfile
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if p.returncode != 0:
            sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{err.read().decode()}")
        lines = [l for l in out.read().decode().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]), ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", default="")
    ap.add_argument("--backend", default="dnnl")
    ap.add_argument("--epoch", action="store_true", help="also the one-epoch comparison")
    ap.add_argument("--torch-script",
                    default=os.path.join(ROOT, "..", "shared", "bench", "torch_baseline.py"))
    a = ap.parse_args()
    ours = os.path.join(a.build, "tgsage_bench")
    have_torch = subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                capture_output=True).returncode == 0 and os.path.exists(a.torch_script)
    if not have_torch:
        print("bench: python3-torch or the baseline script is missing; torch fields are null",
              file=sys.stderr)
    env = dict(os.environ)
    resnet20_train = None
    for name, spec, batch in NETS:
        if a.only and a.only != name:
            continue
        steps = a.steps * (4 if batch <= 32 else 1)
        t_tr, t_inf, t_rss, c_tr, c_inf, c_rss = [], [], [], [], [], []
        for _ in range(a.repeats):
            r, rss = child([ours, "--net", spec, "--batch", str(batch), "--steps", str(steps),
                            "--threads", str(a.threads), "--backend", a.backend], env)
            c_tr.append(r["train_img_s"]), c_inf.append(r["infer_img_s"]), c_rss.append(rss)
            if have_torch:
                r, rss = child(["/usr/bin/python3", a.torch_script, "--threads", str(a.threads),
                                "--steps", str(a.steps), "--only", name], env)
                t_tr.append(r["train_img_s"]), t_inf.append(r["infer_img_s"]), t_rss.append(rss)
        med = lambda v: round(statistics.median(v), 1) if v else None
        ratio = lambda x, y: round(x / y, 3) if x and y else None
        rec = {"name": name, "batch": batch, "threads": a.threads, "backend": a.backend,
               "repeats": a.repeats,
               "train_img_s": med(c_tr), "infer_img_s": med(c_inf),
               "torch_train_img_s": med(t_tr), "torch_infer_img_s": med(t_inf),
               "train_ratio": ratio(med(c_tr), med(t_tr)),
               "infer_ratio": ratio(med(c_inf), med(t_inf)),
               "peak_rss_mb": med(c_rss), "torch_peak_rss_mb": med(t_rss)}
        print(json.dumps(rec), flush=True)
        if name == "resnet20":
            resnet20_train = rec["train_img_s"]
    if not a.only or a.only == "loader":
        runs = [child([ours, "--loader", "--batch", "128", "--threads", str(a.threads)], env)[0]
                for _ in range(a.repeats)]
        img_s = statistics.median(r["img_s"] for r in runs)
        print(json.dumps({"name": "loader", "batch": 128, "augment": True, "img_s": round(img_s, 1),
                          "resnet20_train_img_s": resnet20_train,
                          "ratio_to_resnet20_training":
                              round(img_s / resnet20_train, 1) if resnet20_train else None}),
              flush=True)
    if a.epoch:
        cli = os.path.join(a.build, "tgsage")
        ours_ep, _ = child([cli, "train", "--net", "resnet:3", "--epochs", "1", "--batch", "128",
                            "--lr", "0.1", "--schedule", "cosine", "--threads", str(a.threads),
                            "--json"], env)
        rec = {"name": "resnet20_epoch", "images": ours_ep["train_images"],
               "seconds": round(ours_ep["seconds"], 2), "val_accuracy": ours_ep["val_accuracy"]}
        if have_torch:
            t, _ = child(["/usr/bin/python3", os.path.join(HERE, "torch_epoch.py"),
                          "--threads", str(a.threads)], env)
            rec.update({"torch_seconds": t["seconds"], "torch_val_accuracy": t["val_accuracy"],
                        "time_ratio": round(ours_ep["seconds"] / t["seconds"], 3)})
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
