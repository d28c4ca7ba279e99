#!/usr/bin/python3
"""Optuna on tgsage's synthetic search objectives (tests/synthetic.h).

Usage: bench/optuna_search.py [--seeds 10] [--trials 200] [--nl 10]
                              [--samplers tpe,tpe-hyperopt,random]
                              [--ask-time] [--check FILE]

The two objectives of tests/synthetic.h, "target" and "proxy", written again
in Python on the same choice indices (so they give the same numbers: --check
reads the JSON lines of `tgsage_bench_search --points` and recomputes every
point), searched with Debian's python3-optuna define-by-run - nlayers, then
for each layer its six settings and its connections - for the same seeds
(the search seed and the target's seed are both the seed) and budget.
Samplers: "tpe" Optuna's TPESampler with its defaults, "tpe-hyperopt" the same
with TPESampler.hyperopt_parameters() (hyperopt's start-up, gamma and
weights), "random" Optuna's RandomSampler. Prints one JSON line per run
{bench, algo, objective, seed, trials, best, seconds}. --ask-time: the time
of one define-by-run trial's sampling (ask + every suggest) with 1,000
observed trials in layerwise:20, median of 7, as {bench: "optuna_ask", ...}.
"""
import argparse, json, math, statistics, sys, time

GROUPS = ["filters", "kh", "kw", "stride", "act", "norm"]
# layerwise's default choice sets (docs/spaces.md); act 1 = relu, norm 1 = bn
VALUES = {"filters": [32, 64, 128], "kh": [1, 3, 5, 7], "kw": [1, 3, 5, 7],
          "stride": [1, 2], "act": [0, 1], "norm": [0, 1]}
M64 = (1 << 64) - 1


def splitmix(z):
    """(new state, value) of splitmix64, as tg_syn_splitmix."""
    z = (z + 0x9E3779B97F4A7C15) & M64
    r = z
    r = ((r ^ (r >> 30)) * 0xBF58476D1CE4E5B9) & M64
    r = ((r ^ (r >> 27)) * 0x94D049BB133111EB) & M64
    return z, r ^ (r >> 31)


class Target:
    """The hidden architecture of tg_syn_init, drawn from tseed."""

    def __init__(self, nl, tseed):
        self.z = tseed & M64
        self.nl = nl
        self.layers = nl // 2 + 1 + self.below(nl - nl // 2)
        self.layers = min(self.layers, nl)
        self.choice, self.ins = [], []
        for i in range(nl):
            self.choice.append([self.below(len(VALUES[g])) for g in GROUPS])
            self.ins.append([self.below(2) for _ in range(-1, i)] if i > 0 else [])

    def below(self, n):
        self.z, v = splitmix(self.z)
        return ((v >> 11) * n) >> 53


def arch_of(params, nl):
    """(L, choice[i][g], ins[i][j+1]) from Optuna's params by name."""
    L = params["nlayers"] + 1
    choice = [[params[f"layers[{i}].{g}"] for g in GROUPS] for i in range(L)]
    ins = [[params[f"layers[{i}].in[{j}]"] for j in range(-1, i)] if i > 0 else []
           for i in range(L)]
    return L, choice, ins


def target_score(t, L, choice, ins):
    LT = t.layers
    total = 0.0
    for i in range(LT):
        total += 6 + (i + 1 if i > 0 else 0)
    matches = 0.0
    for i in range(min(L, LT)):
        for g in range(6):
            matches += choice[i][g] == t.choice[i][g]
        for j in range(len(ins[i])):
            matches += ins[i][j] == t.ins[i][j]
    return (matches - 2.0 * abs(L - LT)) / total


def proxy_score(nl, L, choice, ins):
    nrelu = nbn = s2 = 0
    ch, read = [0] * L, [0] * L
    params = kern = 0.0
    for i in range(L):
        c = choice[i]
        f = VALUES["filters"][c[0]]
        cin = 0
        for j in range(-1, i) if i > 0 else []:
            if ins[i][j + 1] == 1:
                cin += 3 if j < 0 else ch[j]
                if j >= 0:
                    read[j] = 1
        if cin == 0:
            cin = 3
        bn = c[5] == 1
        # C: (double)f * cin * kh * kw + (bn ? 2.0 * f : f), left to right
        params += float(f) * cin * VALUES["kh"][c[1]] * VALUES["kw"][c[2]] + \
            (2.0 * f if bn else float(f))
        ch[i] = f
        dh, dw = VALUES["kh"][c[1]] - 3.0, VALUES["kw"][c[2]] - 3.0
        kern += math.exp(-(dh * dh + dw * dw) / 8.0)
        nrelu += c[4] == 1
        nbn += bn
        s2 += VALUES["stride"][c[3]] == 2
    head = sum(ch[i] for i in range(L) if not read[i])
    params += (head + 1.0) * 10
    lp = math.log10(params)
    zp = (lp - 5.0) / 0.3
    zd = (L - (6 * nl + 5) // 10) / 1.5
    zs = s2 - 2.0
    score = 2.0 * math.exp(-0.5 * zp * zp)
    score += math.exp(-0.5 * zd * zd)
    score += nrelu / float(L)
    score += 0.5 * nbn / float(L)
    score += kern / L
    score += 0.5 * math.exp(-0.5 * zs * zs)
    return score


def arch_of_x(x, nl):
    """The same from a tgsage point (space.c's layout: nlayers, then per
    layer its six settings and in[-1], in[0], .., in[i-1])."""
    params, d = {"nlayers": x[0]}, 1
    for i in range(nl):
        for g in GROUPS:
            params[f"layers[{i}].{g}"] = x[d]
            d += 1
        for j in range(-1, i) if i > 0 else []:
            params[f"layers[{i}].in[{j}]"] = x[d]
            d += 1
    assert d == len(x), (d, len(x))
    return arch_of(params, nl)


def suggest(trial, nl):
    L = trial.suggest_categorical("nlayers", list(range(nl))) + 1
    for i in range(L):
        for g in GROUPS:
            trial.suggest_categorical(f"layers[{i}].{g}", list(range(len(VALUES[g]))))
        for j in range(-1, i) if i > 0 else []:
            trial.suggest_categorical(f"layers[{i}].in[{j}]", [0, 1])
    return arch_of(trial.params, nl)


def make_sampler(name, seed):
    import optuna
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-hyperopt":
        return optuna.samplers.TPESampler(seed=seed,
                                          **optuna.samplers.TPESampler.hyperopt_parameters())
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    sys.exit(f"optuna_search: unknown sampler '{name}' (tpe, tpe-hyperopt, random)")


def search(sampler, objective, seed, trials, nl):
    import optuna
    t = Target(nl, seed)

    def f(trial):
        L, choice, ins = suggest(trial, nl)
        if objective == "target":
            return target_score(t, L, choice, ins)
        return proxy_score(nl, L, choice, ins)

    study = optuna.create_study(direction="maximize", sampler=make_sampler(sampler, seed))
    t0 = time.perf_counter()
    study.optimize(f, n_trials=trials)
    return study.best_value, time.perf_counter() - t0


def ask_time(nl=20, observed=1000, repeats=7, seed=0):
    """Median seconds of one define-by-run trial's sampling (ask and every
    suggest) by TPESampler with `observed` finished trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    import random
    rnd = random.Random(seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    t = Target(nl, seed)
    for _ in range(observed):
        L = rnd.randrange(nl) + 1
        params = {"nlayers": L - 1}
        dists = {"nlayers": CategoricalDistribution(list(range(nl)))}
        for i in range(L):
            for g in GROUPS:
                k = f"layers[{i}].{g}"
                params[k] = rnd.randrange(len(VALUES[g]))
                dists[k] = CategoricalDistribution(list(range(len(VALUES[g]))))
            for j in range(-1, i) if i > 0 else []:
                k = f"layers[{i}].in[{j}]"
                params[k] = rnd.randrange(2)
                dists[k] = CategoricalDistribution([0, 1])
        Lx, choice, ins = arch_of(params, nl)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                  value=target_score(t, Lx, choice, ins)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trial = study.ask()
        Lx, choice, ins = suggest(trial, nl)
        times.append(time.perf_counter() - t0)
        study.tell(trial, target_score(t, Lx, choice, ins))
    return statistics.median(times)


def check(path):
    """Recompute the points tgsage_bench_search --points printed; exit 1 on
    a mismatch. Returns how many points were compared."""
    n = 0
    with (sys.stdin if path == "-" else open(path)) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            p = json.loads(line)
            if p.get("bench") != "points":
                continue
            nl = p["nl"]
            L, choice, ins = arch_of_x(p["x"], nl)
            mine = {"target": target_score(Target(nl, p["tseed"]), L, choice, ins),
                    "proxy": proxy_score(nl, L, choice, ins)}
            for k, v in mine.items():
                if v != p[k]:   # the same operations in the same order: bit for bit
                    sys.exit(f"optuna_search: point {n} {k}: python {v!r}, tgsage {p[k]!r}")
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--nl", type=int, default=10)
    ap.add_argument("--samplers", default="tpe,tpe-hyperopt,random")
    ap.add_argument("--objectives", default="target,proxy")
    ap.add_argument("--ask-time", action="store_true")
    ap.add_argument("--check", default="", help="JSON lines of tgsage_bench_search --points")
    a = ap.parse_args()
    if a.check:
        print(json.dumps({"bench": "check", "points": check(a.check), "ok": True}))
        return
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for objective in a.objectives.split(","):
        for sampler in a.samplers.split(","):
            for seed in range(a.seeds):
                best, secs = search(sampler, objective, seed, a.trials, a.nl)
                print(json.dumps({"bench": "search", "algo": "optuna-" + sampler,
                                  "objective": objective, "seed": seed, "trials": a.trials,
                                  "best": best, "seconds": round(secs, 3)}), flush=True)
    if a.ask_time:
        print(json.dumps({"bench": "optuna_ask", "space": "layerwise:20", "observed": 1000,
                          "median_ms": round(1000 * ask_time(), 3)}), flush=True)


if __name__ == "__main__":
    main()
