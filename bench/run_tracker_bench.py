#!/usr/bin/python3
"""Tracker benchmark: tgsage's tracker beside Optuna's RDB storage.

Usage: bench/run_tracker_bench.py [--build build] [--rounds 3] [--trials 500]
                                  [--optuna-trials 100] [--workers 1,4,16]
                                  [--backends sqlite,postgresql] [--out FILE]

For each backend (SQLite; PostgreSQL on a private server started with
scripts/testenv/pg.sh and always stopped at the end) and worker count, R
rounds of build/tgsage_bench_tracker (the explorer's loop proposing random
layerwise:10 genomes, N worker processes claiming and reporting 0) and
bench/optuna_tracker.py (Debian's python3-optuna: N processes, RandomSampler,
define-by-run layerwise:10, null objective), alternating which goes first
from round to round so that both see the same load on a shared machine.
Every run gets a fresh database (SQLite: a new file; PostgreSQL: CREATE
DATABASE on the private server). Optuna runs --optuna-trials trials (it
manages a few trials per second here); tgsage runs --trials and, when that
differs, also --optuna-trials, so the ratio is given at the same budget
too. Prints each run's JSON line (with the round, its order and the load
average), then the medians of trials/s and the ratios, and one JSON summary
line. --out writes the raw lines. Only the standard library here."""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"   # Debian's, which has python3-optuna, SQLAlchemy, psycopg2
RUN_TIMEOUT = 3600


class Stop(Exception):
    pass


def on_signal(sig, frame):
    raise Stop(f"signal {sig}")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    got = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if len(got) != 1:
        raise RuntimeError(f"{' '.join(cmd)}: expected one JSON line, got:\n{p.stdout}")
    return got[0]


class Databases:
    """Fresh databases: SQLite files in a scratch directory, PostgreSQL
    databases on a private server (started on first use)."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.pgdir = None
        self.base = None
        self.n = 0

    def pg_start(self):
        self.pgdir = os.path.join(self.scratch, "pg")
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts/testenv/pg.sh"), "start",
                            self.pgdir], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"pg.sh start failed:\n{p.stderr}")
        with open(os.path.join(self.pgdir, "url")) as f:
            self.base = f.read().strip()
        print(p.stdout.strip(), file=sys.stderr)

    def pg_stop(self):
        if self.pgdir:
            subprocess.run(["bash", os.path.join(ROOT, "scripts/testenv/pg.sh"), "stop",
                            self.pgdir])
            self.pgdir = None

    def fresh(self, backend, who):
        self.n += 1
        name = f"{who}_{self.n}"
        if backend == "sqlite":
            return f"sqlite:///{os.path.join(self.scratch, name + '.db')}"
        if not self.base:
            self.pg_start()
        p = subprocess.run(["psql", self.base, "-qv", "ON_ERROR_STOP=1", "-c",
                            f"CREATE DATABASE {name}"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE {name} failed:\n{p.stderr}")
        # the base URL names the database "postgres": postgresql://u@/postgres?host=...
        head, _, query = self.base.partition("?")
        head = head[:head.rindex("/") + 1] + name
        return head + ("?" + query if query else "")


def one(dbs, build, who, backend, workers, trials):
    url = dbs.fresh(backend, who)
    if who == "tgsage":
        cmd = [os.path.join(build, "tgsage_bench_tracker"), "--db", url, "--workers",
               str(workers), "--trials", str(trials), "--timing"]
    else:
        cmd = [PY, os.path.join(HERE, "optuna_tracker.py"), "--storage", url, "--workers",
               str(workers), "--trials", str(trials)]
    load = os.getloadavg()[0]
    line = run(cmd)
    line["load1"] = round(load, 2)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--optuna-trials", type=int, default=100)
    ap.add_argument("--workers", default="1,4,16")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    workers = [int(w) for w in a.workers.split(",")]
    backends = a.backends.split(",")
    for b in backends:
        if b not in ("sqlite", "postgresql"):
            sys.exit(f"run_tracker_bench: unknown backend '{b}' (sqlite, postgresql)")
    tg_trials = sorted({a.trials, a.optuna_trials})
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scratch = tempfile.mkdtemp(prefix="tgbench-tracker-")
    os.chmod(scratch, 0o755)   # as root, pg.sh's server runs as postgres and must reach it
    dbs = Databases(scratch)
    lines = []
    try:
        for backend in backends:
            for w in workers:
                for r in range(a.rounds):
                    runs = [("tgsage", t) for t in tg_trials] + [("optuna", a.optuna_trials)]
                    if r % 2:
                        runs.reverse()
                    for order, (who, t) in enumerate(runs):
                        line = one(dbs, a.build, who, backend, w, t)
                        line["round"], line["order"] = r, order
                        lines.append(line)
                        print(json.dumps(line), flush=True)
    except (Stop, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"run_tracker_bench: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        dbs.pg_stop()
        shutil.rmtree(scratch, ignore_errors=True)
        if a.out:
            with open(a.out, "w") as f:
                for l in lines:
                    f.write(json.dumps(l) + "\n")
    summarize(lines, backends, workers, tg_trials, a.optuna_trials)


def summarize(lines, backends, workers, tg_trials, optuna_trials):
    def med(bench, backend, w, t):
        v = [l["trials_per_s"] for l in lines if l["bench"] == bench and
             l["backend"] == backend and l["workers"] == w and l["trials"] == t]
        return statistics.median(v) if v else float("nan")

    head = ["backend", "workers", f"optuna T={optuna_trials}"]
    head += [f"tgsage T={t}" for t in tg_trials] + [f"ratio T={t}" for t in tg_trials]
    print("\nmedian trials/s (ratio: tgsage / optuna)")
    print("  ".join(f"{h:>16}" for h in head))
    summary = []
    for b in backends:
        for w in workers:
            o = med("optuna_tracker", b, w, optuna_trials)
            tg = [med("tgsage_tracker", b, w, t) for t in tg_trials]
            row = [b, str(w), f"{o:.2f}"] + [f"{x:.1f}" for x in tg] + \
                  [f"{x / o:.1f}x" for x in tg]
            print("  ".join(f"{c:>16}" for c in row))
            summary.append({"backend": b, "workers": w, "optuna": o,
                            "tgsage": {str(t): x for t, x in zip(tg_trials, tg)},
                            "ratio": {str(t): round(x / o, 2) for t, x in zip(tg_trials, tg)}})
    print(json.dumps({"bench": "tracker_summary", "optuna_trials": optuna_trials,
                      "rows": summary}))


if __name__ == "__main__":
    main()
