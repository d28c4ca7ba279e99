#!/usr/bin/env python3
"""analysis_check.py - the numpy/scipy side of tests/test_analysis.c.

Reads one JSON file written by the C test:
  {"analysis": tg_analysis_json's output,
   "trials": [{"number", "mature", "points": the trial's pool points}],
   "resamples": {"N": [[index, ...] * N] * B},   # the bootstrap's draws for N values
   "vectors": [{"x": [...], "y": [...], "pearson": r, "spearman": rho}],
   "tol": 1e-12}
and recomputes, from the trials' raw points alone, every predictor of every
point (analysis.h's definitions: max over candidate layers, mean over teacher
layers, z-score with ddof 1, P + alpha * TG), its n, mean, sd, min and max,
Pearson and Spearman with mature accuracy (scipy.stats when installed, else
numpy), the percentile bootstrap intervals over the given resamples
(np.percentile, linear), the best predictors and the paired gain interval;
then compares each with the C analysis to tol. Also the plain vectors'
correlations (ties included). Prints "ok" and exits 0, or names every
mismatch (up to 20) and exits 1.
Usage: analysis_check.py FILE
"""
import json
import math
import sys

import numpy as np

try:
    import scipy.stats as st
except ImportError:  # scipy is optional in the suite (scripts/setup.sh)
    st = None

METHODS = ['pearson', 'spearman', 'kendall', 'cka']
errors = []


def fail(msg):
    errors.append(msg)


def ranks_rows(X):
    """Average ranks (1-based) of each row of X (B x n), ties sharing."""
    less = (X[:, None, :] < X[:, :, None]).sum(axis=2)
    equal = (X[:, None, :] == X[:, :, None]).sum(axis=2)
    return less + (equal + 1) / 2.0


def pearson_rows(X, Y):
    """Pearson of each row pair; NaN where a row is constant or n < 3."""
    n = X.shape[1]
    out = np.full(X.shape[0], np.nan)
    if n < 3:
        return out
    ok = (X.min(axis=1) < X.max(axis=1)) & (Y.min(axis=1) < Y.max(axis=1))
    dx = X - X.mean(axis=1, keepdims=True)
    dy = Y - Y.mean(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        r = (dx * dy).sum(axis=1) / (np.sqrt((dx * dx).sum(axis=1)) * np.sqrt((dy * dy).sum(axis=1)))
    out[ok] = np.clip(r[ok], -1, 1)
    return out


def pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.min() == x.max() or y.min() == y.max():
        return math.nan
    if st is not None:
        return float(st.pearsonr(x, y)[0])
    return float(pearson_rows(x[None, :], y[None, :])[0])


def spearman(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.min() == x.max() or y.min() == y.max():
        return math.nan
    if st is not None:
        return float(st.spearmanr(x, y)[0])
    return float(pearson_rows(ranks_rows(x[None, :]), ranks_rows(y[None, :]))[0])


def interval(v):
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def close(a, b, tol):
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(b))


def same_at(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def raw_point(entry, teachers):
    """P, P_bn and {(position, method, layer index): max over candidates}."""
    num = lambda v: float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan
    raw = {'p': num(entry.get('p')), 'p_bn': num(entry.get('p_bn'))}
    for te in teachers:
        e = next((x for x in entry.get('teachers', []) if x.get('position') == te['position']), None)
        for m in METHODS:
            for L in range(len(te['layers'])):
                best = math.nan
                if e is not None and e['r'].get(m) is not None:
                    vals = [v for v in e['r'][m][L] if v is not None]
                    if vals:
                        best = max(vals)
                raw[(te['position'], m, L)] = best
    return raw


def predictor_values(pred, raws, teachers, tgz_cache):
    kind = pred['kind']
    if kind in ('p', 'p_bn'):
        return np.array([r[kind] for r in raws])
    te = next(t for t in teachers if t['position'] == pred['teacher'])
    m = pred['method']
    if kind == 'layer':
        L = te['layers'].index(pred['layer'])
        return np.array([r[(te['position'], m, L)] for r in raws])
    tg = np.array([np.mean([r[(te['position'], m, L)] for L in range(len(te['layers']))])
                   for r in raws])   # NaN if any layer is NaN
    key = (te['position'], m)
    if key not in tgz_cache:
        f = tg[np.isfinite(tg)]
        if len(f) >= 2 and f.min() < f.max():
            tgz_cache[key] = (tg - f.mean()) / f.std(ddof=1)
        else:
            tgz_cache[key] = np.full(len(tg), np.nan)
    tgz = tgz_cache[key]
    p = np.array([r['p'] for r in raws])
    pbn = np.array([r['p_bn'] for r in raws])
    a = pred['alpha']
    if kind == 'tg':
        return tg
    if kind == 'tg_z':
        return tgz
    if kind == 'p+tg':
        return p + a * tg
    if kind == 'p_bn+tg':
        return pbn + a * tg
    assert kind == 'p+tg_z', kind
    return p + a * tgz


def boot_corr(x, y, res):
    """Intervals of Pearson and Spearman over the resamples res (B x n)."""
    X, Y = x[res], y[res]
    return interval(pearson_rows(X, Y)), interval(pearson_rows(ranks_rows(X), ranks_rows(Y)))


def check_point(where, pt, trials, teachers, resamples, boot, tol):
    raws, numbers, mature = [], [], []
    for tr in trials:
        e = next((x for x in tr['points'] or [] if same_at(x['at'], pt['at'])), None)
        if e is not None:
            raws.append(raw_point(e, teachers))
            numbers.append(tr['number'])
            mature.append(tr['mature'])
    mature = np.array(mature, float)
    if pt['n'] != len(raws) or pt['number'] != numbers:
        fail('%s: networks %s, expected %s' % (where, pt['number'], numbers))
        return
    for k, v in enumerate(pt['mature']):
        if not close(v, mature[k], tol):
            fail('%s: mature[%d] %r, expected %r' % (where, k, v, mature[k]))
    tgz_cache = {}
    for j, pred in enumerate(pt['predictors']):
        w = '%s, predictor %d (%s %s %s %s %s)' % (where, j, pred['kind'], pred['teacher'],
                                                   pred['method'], pred['layer'], pred['alpha'])
        v = predictor_values(pred, raws, teachers, tgz_cache)
        ok = np.isfinite(v)
        x, y = v[ok], mature[ok]
        if pred['n'] != int(ok.sum()):
            fail('%s: n %d, expected %d' % (w, pred['n'], ok.sum()))
            continue
        want = {'mean': x.mean() if len(x) else math.nan,
                'sd': x.std(ddof=1) if len(x) > 1 else math.nan,
                'min': x.min() if len(x) else math.nan, 'max': x.max() if len(x) else math.nan}
        # a mean of terms that cancel (p + 1000 * TG_z) is as exact as its
        # largest term, not its result
        scale = max(1.0, float(np.abs(x).max())) if len(x) else 1.0
        for key, val in want.items():
            if not close(pred[key] / scale if pred[key] is not None else None,
                         float(val) / scale, tol):
                fail('%s: %s %r, expected %r' % (w, key, pred[key], val))
        r, rho = pearson(x, y), spearman(x, y)
        for name, val in (('pearson', r), ('spearman', rho)):
            if not close(pred[name]['r'], val, tol):
                fail('%s: %s %r, expected %r' % (w, name, pred[name]['r'], val))
        if boot > 0 and len(x) >= 3 and not (math.isnan(r) and math.isnan(rho)):
            (plo, phi), (slo, shi) = boot_corr(x, y, np.array(resamples[str(len(x))]))
            if math.isnan(r):
                plo = phi = math.nan
            if math.isnan(rho):
                slo = shi = math.nan
            for name, lo, hi in (('pearson', plo, phi), ('spearman', slo, shi)):
                if not close(pred[name]['lo'], lo, tol) or not close(pred[name]['hi'], hi, tol):
                    fail('%s: %s interval [%r, %r], expected [%r, %r]' %
                         (w, name, pred[name]['lo'], pred[name]['hi'], lo, hi))
        else:
            for name in ('pearson', 'spearman'):
                if pred[name]['lo'] is not None or pred[name]['hi'] is not None:
                    fail('%s: %s has an interval where none is defined' % (w, name))

    # the selection on the C side's own values (each checked above to tol):
    # near-ties such as several Spearman rhos of 1 at the end would
    # otherwise be decided by the last bit of two implementations
    spear = [math.nan if p['spearman']['r'] is None else p['spearman']['r']
             for p in pt['predictors']]

    def best(want):
        b = -1
        for j, pred in enumerate(pt['predictors']):
            if math.isnan(spear[j]) or not want(pred):
                continue
            if b < 0 or spear[j] > spear[b]:
                b = j
        return b
    mix = lambda p: p['kind'] in ('p+tg', 'p_bn+tg', 'p+tg_z')
    uses_tg = lambda p: p['kind'] not in ('p', 'p_bn') and not (mix(p) and p['alpha'] == 0)
    for key, want in (('best', lambda p: True), ('best_tg', uses_tg), ('best_mix', mix)):
        b = best(want)
        got = -1 if pt[key] is None else pt[key]
        if got != b:
            fail('%s: %s %d, expected %d' % (where, key, got, b))
    b = pt['best_tg']
    if b is None:
        if pt['gain']['r'] is not None:
            fail('%s: a gain without best_tg' % where)
        return
    vt = predictor_values(pt['predictors'][b], raws, teachers, tgz_cache)
    vp = predictor_values(pt['predictors'][0], raws, teachers, tgz_cache)
    ok = np.isfinite(vt) & np.isfinite(vp)
    a, bb, y = vt[ok], vp[ok], mature[ok]
    g = spearman(a, y) - spearman(bb, y)
    lo = hi = math.nan
    if boot > 0 and not math.isnan(g):
        res = np.array(resamples[str(len(a))])
        d = pearson_rows(ranks_rows(a[res]), ranks_rows(y[res])) - \
            pearson_rows(ranks_rows(bb[res]), ranks_rows(y[res]))
        lo, hi = interval(d)
    for name, val in (('r', g), ('lo', lo), ('hi', hi)):
        if not close(pt['gain'][name], val, tol):
            fail('%s: gain.%s %r, expected %r' % (where, name, pt['gain'][name], val))


def main():
    d = json.load(open(sys.argv[1]))
    tol = d.get('tol', 1e-12)
    an = d['analysis']
    if st is not None:   # the numpy ranks agree with scipy's
        x = np.array([[3, 1, 2, 2, 5, 1.0]])
        if not np.array_equal(ranks_rows(x)[0], st.rankdata(x[0])):
            fail('ranks_rows disagrees with scipy.stats.rankdata')
    for k, v in enumerate(d.get('vectors', [])):
        for name, f in (('pearson', pearson), ('spearman', spearman)):
            if not close(v[name], f(v['x'], v['y']), tol):
                fail('vector %d: %s %r, expected %r' % (k, name, v[name], f(v['x'], v['y'])))
    for k, pt in enumerate(an['points']):
        check_point('point %d (at %g)' % (k, pt['at']), pt, d['trials'], an['teachers'],
                    d.get('resamples', {}), an['boot'], tol)
    if errors:
        for e in errors[:20]:
            print(e)
        print('%d mismatches (reference: %s)' % (len(errors), 'scipy' if st else 'numpy'))
        return 1
    print('ok (reference: %s; %d points, %d predictors each)' %
          ('scipy' if st else 'numpy', len(an['points']),
           len(an['points'][0]['predictors']) if an['points'] else 0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
