#!/usr/bin/env python3
"""tables.py - the tables of docs/results.md, from the committed results only.

Reads scripts/experiments/results/ (written by run.sh: analysis.csv of
`tgsage analyze`, pool.csv and searches/*.csv of `tgsage trials`,
floors/*.json of `tgsage tg --pixels`, teacher-train.json) and prints
Markdown on stdout. Everything here is arithmetic on those files; the one
statistic computed here rather than by tgsage is the floor-normalised TG
(and P + alpha * it), with the same kind of interval as `tgsage analyze`
(Spearman with mature accuracy, 1,000 bootstrap resamples of the networks,
seed 0, percentile interval).

usage: python3 scripts/experiments/tables.py > scripts/experiments/results/tables.md
"""
import csv
import glob
import json
import math
import os
import sys

import numpy as np
from scipy import stats

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TEACHERS = ["cat1000", "cat500", "img500"]   # the pool's teacher positions 0, 1, 2
csv.field_size_limit(1 << 30)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def f3(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def interval(r, lo, hi):
    return f"{f3(r)} [{f3(lo)}, {f3(hi)}]"


def spearman_boot(x, y, boot=1000, seed=0):
    x, y = np.asarray(x, float), np.asarray(y, float)
    r = stats.spearmanr(x, y).statistic
    rng = np.random.default_rng(seed)
    n = len(x)
    rs = []
    for _ in range(boot):
        i = rng.integers(0, n, n)
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        rs.append(stats.spearmanr(x[i], y[i]).statistic)
    lo, hi = np.percentile(rs, [2.5, 97.5])
    return r, lo, hi


# ---- predictivity (the pool) ------------------------------------------------

def predictivity(out):
    an = rows(os.path.join(HERE, "analysis.csv"))
    pts = sorted({float(r["at"]) for r in an})
    mature = max(pts)
    pts = [p for p in pts if p < mature]

    def get(at, kind, teacher="", method="", layer="", alpha=""):
        for r in an:
            if (float(r["at"]) == at and r["kind"] == kind and r["teacher"] == teacher and
                    r["method"] == method and r["layer"] == layer and r["alpha"] == alpha):
                return r
        return None

    def sp(r):
        return interval(float(r["spearman"]), float(r["spearman_lo"]), float(r["spearman_hi"]))

    out.append("### Spearman correlation with mature accuracy, by point\n")
    out.append("| predictor | " + " | ".join(f"{p:g} epoch" for p in pts) + " |")
    out.append("|---|" + "---|" * len(pts))
    line = ["P (batch norm in eval mode)"] + [sp(get(p, "p")) for p in pts]
    out.append("| " + " | ".join(line) + " |")
    line = ["P_bn (BN statistics recomputed)"] + [sp(get(p, "p_bn")) for p in pts]
    out.append("| " + " | ".join(line) + " |")
    for t, name in enumerate(TEACHERS):
        for m in ["pearson", "spearman", "kendall", "cka"]:
            line = [f"TG {name}, {m}"] + [sp(get(p, "tg", str(t), m)) for p in pts]
            out.append("| " + " | ".join(line) + " |")
    out.append("")

    out.append("### TG's spread over the pool (teacher's own method, Pearson) and its floor\n")
    floors = load_floors()
    out.append("| teacher | raw-pixel floor (TG) | " +
               " | ".join(f"TG at {p:g}: mean, sd [min, max]" for p in pts) + " |")
    out.append("|---|---|" + "---|" * len(pts))
    for t, name in enumerate(TEACHERS):
        cells = [name, f3(floors[name]["tg"]) if name in floors else "-"]
        for p in pts:
            r = get(p, "tg", str(t), "pearson")
            cells.append(f"{float(r['mean']):.3f}, {float(r['sd']):.3f} "
                         f"[{float(r['min']):.3f}, {float(r['max']):.3f}]")
        out.append("| " + " | ".join(cells) + " |")
    r = get(pts[0], "p")
    out.append(f"\nFor comparison, P at {pts[0]:g} epoch: mean {float(r['mean']):.3f}, "
               f"sd {float(r['sd']):.3f} [{float(r['min']):.3f}, {float(r['max']):.3f}].\n")
    out.append("Per-layer floors (Pearson r of the raw images' RDM with each teacher layer):\n")
    for name in TEACHERS:
        if name in floors:
            fl = floors[name]
            out.append(f"- {name}: " + ", ".join(f"{l} {r:.3f}" for l, r in
                                                  zip(fl["layers"], fl["r"])))
    out.append("")

    out.append("### P + alpha * TG (teacher cat1000, Pearson), Spearman by alpha\n")
    alphas = sorted({r["alpha"] for r in an if r["kind"] == "p+tg"}, key=float)
    out.append("| predictor, point | " + " | ".join(f"alpha {a}" for a in alphas) + " |")
    out.append("|---|" + "---|" * len(alphas))
    for kind in ["p+tg", "p_bn+tg", "p+tg_z"]:
        for p in pts:
            cells = [f"{kind} at {p:g}"] + [f3(float(get(p, kind, "0", "pearson", "", a)
                                                   ["spearman"])) for a in alphas]
            out.append("| " + " | ".join(cells) + " |")
    out.append("\n(tg_z: TG standardised over the pool's networks at that point, so alpha "
               "weighs one standard deviation of TG against one unit of accuracy.)\n")
    floor_normalised(out, pts, floors)


def load_floors():
    floors = {}
    for path in glob.glob(os.path.join(HERE, "floors", "*.json")):
        with open(path) as f:
            j = json.load(f)
        name = os.path.basename(path)[:-5]
        floors[name] = {"tg": j["tg"], "layers": [x["teacher_layer"] for x in j["per_teacher"]],
                        "r": [x["r"] for x in j["per_teacher"]]}
    return floors


def floor_normalised(out, pts, floors):
    """TG_floor = mean over teacher layers of (r_L - f_L) / (1 - f_L), r_L the
    best candidate layer's Pearson r, f_L the raw pixels' (the floor)."""
    pool = [r for r in rows(os.path.join(HERE, "pool.csv")) if r["state"] == "complete"]
    mature = np.array([float(r["p"]) for r in pool])
    points = [{x["at"]: x for x in json.loads(r["points"])} for r in pool]   # parsed once
    out.append("### Floor-normalised TG (Pearson), Spearman with mature accuracy [95%]\n")
    out.append("| teacher | " + " | ".join(f"{p:g} epoch" for p in pts) +
               " | best P + alpha TG_floor (alpha, point) |")
    out.append("|---|" + "---|" * len(pts) + "---|")
    for t, name in enumerate(TEACHERS):
        if name not in floors:
            continue
        f = np.array(floors[name]["r"])
        cells, best = [name], None
        for p in pts:
            tgf, pp = [], []
            for by_at in points:
                pt = by_at[p]
                te = next(x for x in pt["teachers"] if x["position"] == t)
                best_r = np.array([max(row) for row in te["r"]["pearson"]])
                tgf.append(float(np.mean((best_r - f) / (1 - f))))
                pp.append(pt["p"])
            tgf, pp = np.array(tgf), np.array(pp)
            cells.append(interval(*spearman_boot(tgf, mature)))
            for a in [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]:
                rho = stats.spearmanr(pp + a * tgf, mature).statistic
                if best is None or rho > best[0]:
                    best = (rho, a, p)
        cells.append(f"{best[0]:.3f} ({best[1]:g}, {best[2]:g} epoch)")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")


# ---- searches ---------------------------------------------------------------

def in_order(groups):
    """(algo, score, budget) groups: random, TPE, RL; then score and budget."""
    order = {"random": 0, "tpe": 1, "rl": 2}
    return sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], kv[0][2]))


def searches(out):
    d = os.path.join(HERE, "searches")
    names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(d, "*.csv"))
                   if not p.endswith(".rerank.csv"))
    if not names:
        out.append("(no search results yet)\n")
        return
    groups = {}
    per = []
    for n in names:
        algo, score, budget, seed = n.split("-")
        tr = [r for r in rows(os.path.join(d, n + ".csv")) if r["state"] == "complete"]
        rr_path = os.path.join(d, n + ".rerank.csv")
        rr = rows(rr_path) if os.path.exists(rr_path) else []
        mature = {int(r["parent"]): float(r["p"]) for r in rr if r["state"] == "complete"}
        ranked = sorted(tr, key=lambda r: (-float(r["score"]), int(r["number"])))
        top = [mature.get(int(r["number"])) for r in ranked[:5]]
        cpu = sum(float(r["train_s"] or 0) + float(r["eval_s"] or 0) for r in tr)
        ev = sum(float(r["eval_s"] or 0) for r in tr)
        s = {"name": n, "trials": len(tr), "examples": sum(int(r["examples"]) for r in tr),
             "cpu": cpu, "eval": ev, "top1": top[0] if top else None,
             "best5": max(top) if top and all(x is not None for x in top) else None,
             "best3": max(top[:3]) if len(top) >= 3 and all(x is not None for x in top[:3])
             else None,
             "rerank_examples": sum(int(r["examples"]) for r in rr if r["state"] == "complete"),
             "rerank_n": sum(1 for r in rr if r["state"] == "complete"),
             "rerank_eval": sum(float(r["eval_s"] or 0) for r in rr),
             "rerank_cpu": sum(float(r["train_s"] or 0) + float(r["eval_s"] or 0) for r in rr)}
        per.append(s)
        groups.setdefault((algo, score, budget), []).append(s)

    def ms(v):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        if len(v) == 1:
            return f"{v[0]:.3f} (1 seed)"
        return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" + ("" if len(v) == 3 else
                                                                f" ({len(v)} seeds)")

    out.append("### Searches: mature accuracy (2 epochs) of what each search found, "
               "mean ± sd over seeds\n")
    out.append("| algorithm | score | budget E | search examples (M*E) | top-1 mature | "
               "best of top-3 | best of top-5 | search CPU-s | evaluation share |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for (algo, score, budget), v in in_order(groups):
        sc = {"p": "P", "ptg": "P + 4 TG"}[score]
        b = {"e1": "E1 = 0.1", "10e1": "10 E1 = 1"}[budget]
        ex = np.mean([s["examples"] for s in v])
        cpu = np.mean([s["cpu"] for s in v])
        share = sum(s["eval"] for s in v) / max(1e-9, sum(s["cpu"] for s in v))
        out.append(f"| {algo} | {sc} | {b} | {ex:,.0f} | {ms([s['top1'] for s in v])} | "
                   f"{ms([s['best3'] for s in v])} | {ms([s['best5'] for s in v])} | "
                   f"{cpu:,.0f} | {share:.0%} |")
    out.append("")
    out.append("Per search (seed = the suffix): trials, examples, top-1 and best of top-5 "
               "mature accuracy, the rerank's examples and CPU-s:\n")
    out.append("| search | trials | examples | top-1 | best of top-5 | rerank examples | "
               "rerank CPU-s |")
    out.append("|---|---|---|---|---|---|---|")
    for s in per:
        out.append(f"| {s['name']} | {s['trials']} | {s['examples']:,} | {f3(s['top1'])} | "
                   f"{f3(s['best5'])} | {s['rerank_examples']:,} | {s['rerank_cpu']:,.0f} |")
    out.append("")
    cost_table(out, groups)


# the paper's Table 2 (quoted, not measured here): M1, E1, M2, E2 in examples
PAPER = [("NASNet-A (paper)", "20,000", "0.9M", "250", "13.5M", "21.4-29.3B"),
         ("PNASNet-5 (paper)", "1,160", "0.9M", "0", "0", "1.0B"),
         ("SAGENet, TG-SAGE (paper)", "1,000", "90K", "10", "13.5M", "225M")]


def cost_table(out, groups):
    out.append("### Cost in examples, M1 x E1 + M2 x E2, beside the paper's Table 2\n")
    out.append("| search | M1 | E1 (examples) | M2 | E2 (examples) | cost (examples) | "
               "CPU-s (search + rerank) | of it evaluation |")
    out.append("|---|---|---|---|---|---|---|---|")
    for (algo, score, budget), v in in_order(groups):
        m1 = np.mean([s["trials"] for s in v])
        e1 = np.mean([s["examples"] / max(1, s["trials"]) for s in v])
        m2 = np.mean([s["rerank_n"] for s in v])
        e2 = np.mean([s["rerank_examples"] / s["rerank_n"] for s in v if s["rerank_n"]] or [0])
        total = np.mean([s["examples"] + s["rerank_examples"] for s in v])
        cpu = np.mean([s["cpu"] + s["rerank_cpu"] for s in v])
        ev = sum(s["eval"] + s["rerank_eval"] for s in v) / max(
            1e-9, sum(s["cpu"] + s["rerank_cpu"] for s in v))
        sc = {"p": "P", "ptg": "P + 4 TG"}[score]
        b = {"e1": "E1", "10e1": "10 E1"}[budget]
        out.append(f"| {algo}, {sc} at {b} | {m1:g} | {e1:,.0f} | {m2:g} | {e2:,.0f} | "
                   f"{total:,.0f} | {cpu:,.0f} | {ev:.0%} |")
    for row in PAPER:
        out.append("| " + " | ".join(row) + " | - | - |")
    out.append("")


# ---- cost ------------------------------------------------------------------

def cost(out):
    with open(os.path.join(HERE, "teacher-train.json")) as f:
        t = json.load(f)
    pool = [r for r in rows(os.path.join(HERE, "pool.csv")) if r["state"] == "complete"]
    out.append("### Cost\n")
    out.append(f"- Teacher ({t['net']}, {t['epochs']:g} epochs): {t['examples_trained']:,} "
               f"examples, {t['seconds']:,.0f} s wall on 2 threads; made once, shared by every "
               "P + TG search and the pool.")
    ex = sum(int(r["examples"]) for r in pool)
    cpu = sum(float(r["train_s"] or 0) + float(r["eval_s"] or 0) for r in pool)
    ev = sum(float(r["eval_s"] or 0) for r in pool)
    out.append(f"- Pool ({len(pool)} networks to 2 epochs, 4 premature points, 3 teachers x 4 "
               f"methods): {ex:,} examples, {cpu:,.0f} CPU-s, of which evaluation "
               f"{ev / cpu:.0%}.")
    out.append("")


def main():
    out = ["<!-- written by scripts/experiments/tables.py from scripts/experiments/results; "
           "do not edit -->", "", "## Predictivity (the pool)", ""]
    predictivity(out)
    out += ["## Search at equal cost", ""]
    searches(out)
    cost(out)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
