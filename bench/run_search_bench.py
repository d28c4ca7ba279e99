#!/usr/bin/python3
"""Search benchmark: tgsage's explorers beside Optuna on the synthetic objectives.

Usage: bench/run_search_bench.py [--build build] [--seeds 10] [--trials 200]
                                 [--samplers tpe,tpe-hyperopt,random]
                                 [--optuna-results FILE] [--no-optuna]

Runs build/tgsage_bench_search (every algorithm of tgsage's table, both
objectives of tests/synthetic.h, seeds 0..S-1, T trials each, on
layerwise:10; the points check; one TPE proposal's time with 1,000 observed
trials in layerwise:20) and bench/optuna_search.py (Debian's python3-optuna:
TPESampler with its defaults, with hyperopt's parameters, RandomSampler; the
same seeds, budget and objectives, checked to give the same numbers on the
same points; ask() time at 1,000 trials in layerwise:20). Optuna takes
minutes per run: --optuna-results reuses the JSON lines of an earlier
`optuna_search.py --ask-time` run instead. Prints a table of the mean (and
sd) best score per algorithm and objective, the proposal times side by
side, and one JSON line with everything. Only the standard library here."""
import argparse, json, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"   # Debian's, which has python3-optuna


def lines(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


def run(cmd, stdin=None):
    p = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if p.returncode != 0:
        sys.exit(f"search bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--samplers", default="tpe,tpe-hyperopt,random")
    ap.add_argument("--optuna-results", default="")
    ap.add_argument("--no-optuna", action="store_true")
    a = ap.parse_args()
    ours = os.path.join(a.build, "tgsage_bench_search")
    peer = os.path.join(HERE, "optuna_search.py")

    out = run([ours, "--seeds", str(a.seeds), "--trials", str(a.trials), "--points", "--time"])
    rows = lines(out)
    if not a.no_optuna:
        checked = lines(run([PY, peer, "--check", "-"], stdin=out))[0]["points"]
        print(f"objectives: tgsage and Python agree bit for bit on {checked} points",
              file=sys.stderr)
        if a.optuna_results:
            with open(a.optuna_results) as f:
                rows += lines(f.read())
        else:
            rows += lines(run([PY, peer, "--seeds", str(a.seeds), "--trials", str(a.trials),
                               "--samplers", a.samplers, "--ask-time"]))

    best = {}
    for r in rows:
        if r.get("bench") == "search" and r["seed"] < a.seeds and r["trials"] == a.trials:
            best.setdefault((r["objective"], r["algo"]), []).append(r["best"])
    summary = {"seeds": a.seeds, "trials": a.trials, "search": {}, "propose_ms": {}}
    print(f"mean (sd) of the best score found, {a.seeds} seeds x {a.trials} trials, layerwise:10")
    print(f"{'objective':<10} {'algorithm':<22} {'mean':>8} {'sd':>8} {'runs':>5}")
    for (obj, algo) in sorted(best, key=lambda k: (k[0] != "target", k[1].startswith("optuna"),
                                                  k[1])):
        v = best[(obj, algo)]
        m, sd = statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0
        name = algo if algo.startswith("optuna") else "tgsage-" + algo
        print(f"{obj:<10} {name:<22} {m:>8.4f} {sd:>8.4f} {len(v):>5}")
        summary["search"][f"{obj}/{name}"] = {"mean": round(m, 5), "sd": round(sd, 5),
                                              "runs": len(v)}
    for r in rows:
        if r.get("bench") == "tpe_propose":
            summary["propose_ms"]["tgsage-tpe"] = r["median_ms"]
        if r.get("bench") == "optuna_ask":
            summary["propose_ms"]["optuna-tpe"] = r["median_ms"]
    pm = summary["propose_ms"]
    print("one TPE proposal with 1,000 observed trials, layerwise:20 (median):")
    for k, v in pm.items():
        print(f"  {k:<12} {v:>10.3f} ms")
    if len(pm) == 2 and pm["tgsage-tpe"] > 0:
        print(f"  Optuna / tgsage: {pm['optuna-tpe'] / pm['tgsage-tpe']:.0f}x")
    print(json.dumps({"bench": "search_summary", **summary}))


if __name__ == "__main__":
    main()
