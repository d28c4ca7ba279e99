#!/usr/bin/python3
"""rsa_numpy.py - the numpy side of the RSA benchmark (bench/bench_rsa.c is the C side).

Run it as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/rsa_numpy.py

On this machine (AMD EPYC with AVX-512) the environment sets
OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE=512; under them numpy's
OpenBLAS (Debian's pthread build) runs its Haswell kernels, about 1.4 times
slower in float64 than the Cooperlake kernels it picks by itself. Unset them
so numpy runs at its best. The script warns when they are set.

Same sizes and recipe as bench_rsa.c: two feature matrices of n images x f
features, uniform in [0, 1) (float64, numpy's default), the second half the
first plus half fresh noise; labels n / cats per category, shuffled. Then,
`repeats` times: the RDM of each, `1 - np.corrcoef(X)` (image unit) or of
the category means (category unit: a boolean mask and mean per category,
the fastest of the numpy ways we tried: one-hot matrix product, np.add.at,
sort + np.add.reduceat), and np.corrcoef of the two upper triangles. Prints
one JSON line per unit with the medians of rdm_s (one RDM), compare_s and
total_s, like the C side. Uses numpy only.

    rsa_numpy.py [--n 5000] [--f 10000] [--cats 100] [--threads 2] [--repeats 3]
                 [--only image|category]
"""
import argparse
import json
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--n", type=int, default=5000)
ap.add_argument("--f", type=int, default=10000)
ap.add_argument("--cats", type=int, default=100)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--only", default="")
args = ap.parse_args()
# thread counts must be in the environment before numpy loads OpenBLAS
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = str(args.threads)
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if var in os.environ:
        print(f"rsa_numpy: {var} is set: numpy's OpenBLAS runs slower; "
              "run under env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE", file=sys.stderr)

import numpy as np  # noqa: E402


def image_rdm(x, labels):
    return 1.0 - np.corrcoef(x)


def category_rdm(x, labels):
    means = np.stack([x[labels == c].mean(axis=0) for c in np.unique(labels)])
    return 1.0 - np.corrcoef(means)


def compare(a, b):
    iu = np.triu_indices(a.shape[0], 1)
    return np.corrcoef(a[iu], b[iu])[0, 1]


def run(name, rdm, x1, x2, labels):
    rdm_s, cmp_s, tot_s = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = rdm(x1, labels)
        b = rdm(x2, labels)
        t1 = time.perf_counter()
        r = compare(a, b)
        t2 = time.perf_counter()
        rdm_s.append((t1 - t0) / 2), cmp_s.append(t2 - t1), tot_s.append(t2 - t0)
        m = a.shape[0]
        del a, b
    print(json.dumps({"name": "rsa_" + name, "n": args.n, "f": args.f, "m": m,
                      "threads": args.threads, "repeats": args.repeats,
                      "rdm_s": round(statistics.median(rdm_s), 4),
                      "compare_s": round(statistics.median(cmp_s), 4),
                      "total_s": round(statistics.median(tot_s), 4), "r": round(float(r), 6),
                      "numpy": np.__version__}), flush=True)


def main():
    rng = np.random.default_rng(0)
    x1 = rng.random((args.n, args.f))
    x2 = 0.5 * x1 + 0.5 * rng.random((args.n, args.f))
    labels = np.arange(args.n) % args.cats
    rng.shuffle(labels)
    if args.only in ("", "image"):
        run("image", image_rdm, x1, x2, labels)
    if args.only in ("", "category"):
        run("category", category_rdm, x1, x2, labels)


if __name__ == "__main__":
    main()
