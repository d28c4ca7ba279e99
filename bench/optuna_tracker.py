#!/usr/bin/python3
"""Optuna's RDB storage under a null objective: the peer of tgsage's tracker
benchmark (bench/bench_tracker.c, run side by side by bench/run_tracker_bench.py).

Usage: bench/optuna_tracker.py --storage URL --workers N --trials T [--nl 10]

One study with RandomSampler; N processes, each loading the study from the
storage and running study.optimize on a null objective that draws the same
define-by-run architecture of layerwise:NL as bench/optuna_search.py (the
sampling writes one parameter row per active choice, as a real search
would) and returns 0.0, until T trials are done in all. Prints one JSON line
{bench, backend, workers, trials, seconds, trials_per_s}.
"""
import argparse, json, multiprocessing as mp, os, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optuna  # noqa: E402
from optuna_search import suggest  # noqa: E402


def work(storage, name, n, nl, seed, start):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    start.wait()

    def null(trial):
        suggest(trial, nl)
        return 0.0

    study.optimize(null, n_trials=n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--storage", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--nl", type=int, default=10)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"null-{os.getpid()}-{time.time_ns()}"
    optuna.create_study(study_name=name, storage=a.storage, direction="maximize")
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(a.workers + 1)
    per = [a.trials // a.workers + (1 if i < a.trials % a.workers else 0)
           for i in range(a.workers)]
    procs = [ctx.Process(target=work, args=(a.storage, name, per[i], a.nl, i, start))
             for i in range(a.workers)]
    for p in procs:
        p.start()
    try:
        # a worker that fails before the barrier (load_study) breaks it
        start.wait(timeout=600)
    except threading.BrokenBarrierError:
        for p in procs:
            p.terminate()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
    dt = time.perf_counter() - t0
    # a worker's exception (e.g. SQLAlchemy's "database is locked") has
    # printed its traceback to stderr; the run fails, naming how many
    bad = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if bad:
        sys.exit(f"optuna_tracker: {len(bad)} of {a.workers} workers failed "
                 f"(worker, exit code: {bad}); their tracebacks are above")
    done = len(optuna.load_study(study_name=name, storage=a.storage).get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    if done != a.trials:
        sys.exit(f"optuna_tracker: {done} trials complete, expected {a.trials}")
    backend = "postgresql" if a.storage.startswith("postgres") else "sqlite"
    print(json.dumps({"bench": "optuna_tracker", "backend": backend, "workers": a.workers,
                      "trials": a.trials, "seconds": round(dt, 4),
                      "trials_per_s": round(a.trials / dt, 2)}), flush=True)


if __name__ == "__main__":
    main()
