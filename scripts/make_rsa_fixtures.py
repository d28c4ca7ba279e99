#!/usr/bin/python3
"""make_rsa_fixtures.py - reference RDMs, similarities and CKA for tests/test_rsa.c.

Writes tests/fixtures/rsa/ with numpy/scipy in float64 (Debian's
python3-numpy and python3-scipy); the output is deterministic, so rerunning
it leaves git clean.

    /usr/bin/python3 scripts/make_rsa_fixtures.py

Files (features float32, everything computed from them in float64):
  image_x.npy (40, 30) f4, image_rdm.npy (40, 40) f8 = 1 - np.corrcoef(X)
  category_x.npy (200, 50) f4, category_labels.npy (200,) i4 with 10
    distinct, non-contiguous labels in shuffled order and unequal counts;
    category_rdm.npy (10, 10) f8 = 1 - np.corrcoef of the category means,
    categories in ascending label order
  sim_b_cont.npy, sim_{a,b}_tied.npy: two pairs of RDMs; "cont" is
    image_rdm.npy against sim_b_cont.npy (40 x 40, no ties) and "tied" (30 x 30, entries on a coarse grid: many ties in each RDM and
    joint ties); sim_ref.npy (2, 3) f8: rows cont, tied; columns Pearson
    (np.corrcoef of the upper triangles), Spearman (scipy.stats.spearmanr,
    average ranks) and Kendall tau-a by brute force over all pairs (scipy's
    kendalltau is tau-b; on the tie-free pair the two agree, checked here)
  cka_{x,y}{1,2}.npy: two cases of linear CKA, case 1 with n = 60 images of
    20 and 35 features (more images than features), case 2 with n = 12 of 40
    and 25 (fewer); cka_ref.npy (2,) f8 by the numpy formula of Kornblith
    et al. 2019.
"""

import os

import numpy as np
import scipy.stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "fixtures", "rsa")


def rdm(x):
    return 1.0 - np.corrcoef(np.asarray(x, dtype=np.float64))


def upper(r):
    return r[np.triu_indices(r.shape[0], 1)]


def tau_a(a, b):
    """Kendall tau-a by brute force: (concordant - discordant) / (N(N-1)/2),
    a pair tied in either variable counting as neither."""
    n = len(a)
    s = 0
    for i in range(n - 1):
        s += int(np.sum(np.sign(a[i] - a[i + 1:]) * np.sign(b[i] - b[i + 1:])))
    return s / (n * (n - 1) / 2)


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)

    # Image RDM: 4 groups of rows sharing a component, so correlations run
    # from about -0.3 to 0.7 rather than all near 0.
    base = rng.standard_normal((4, 30))
    x = (0.8 * base[np.arange(40) % 4] + rng.standard_normal((40, 30))).astype(np.float32)
    save("image_x.npy", x)
    save("image_rdm.npy", rdm(x))

    # Category RDM: 10 categories with centroids plus noise per image.
    labels_set = np.array([-5, 0, 3, 7, 8, 12, 20, 33, 41, 100], dtype=np.int32)
    counts = np.array([14, 26, 20, 17, 23, 20, 15, 25, 19, 21])
    assert counts.sum() == 200
    labels = np.repeat(labels_set, counts)
    rng.shuffle(labels)
    cent = rng.standard_normal((10, 50))
    idx = np.searchsorted(labels_set, labels)
    x = (cent[idx] + 1.5 * rng.standard_normal((200, 50))).astype(np.float32)
    means = np.stack([x[labels == c].astype(np.float64).mean(axis=0) for c in np.unique(labels)])
    save("category_x.npy", x)
    save("category_labels.npy", labels.astype(np.int32))
    save("category_rdm.npy", rdm(means))

    # Similarity pairs.
    a_cont = rdm(np.load(os.path.join(OUT, "image_x.npy")))
    xb = np.load(os.path.join(OUT, "image_x.npy")).astype(np.float64)
    b_cont = rdm(xb + 1.2 * rng.standard_normal(xb.shape))
    f = rng.standard_normal((30, 8))
    a_tied = np.round(rdm(f) * 5) / 5                      # grid of 0.2
    b_tied = np.round(rdm(f + rng.standard_normal(f.shape)) * 4) / 4   # grid of 0.25
    for r in (a_tied, b_tied):
        np.fill_diagonal(r, 0.0)
    refs = []
    for a, b in ((a_cont, b_cont), (a_tied, b_tied)):
        ua, ub = upper(a), upper(b)
        refs.append([np.corrcoef(ua, ub)[0, 1], scipy.stats.spearmanr(ua, ub).correlation,
                     tau_a(ua, ub)])
    ua, ub = upper(a_cont), upper(b_cont)
    assert len(np.unique(ua)) == len(ua) and len(np.unique(ub)) == len(ub)
    assert abs(refs[0][2] - scipy.stats.kendalltau(ua, ub).correlation) < 1e-12
    ua, ub = upper(a_tied), upper(b_tied)
    assert len(np.unique(ua)) < len(ua) / 10 and len(np.unique(ub)) < len(ub) / 10
    save("sim_b_cont.npy", b_cont)
    save("sim_a_tied.npy", a_tied)
    save("sim_b_tied.npy", b_tied)
    save("sim_ref.npy", np.array(refs, dtype=np.float64))

    # Linear CKA.
    cka = []
    for case, (n, p, q) in enumerate(((60, 20, 35), (12, 40, 25)), start=1):
        x = rng.standard_normal((n, p)).astype(np.float32)
        mix = rng.standard_normal((p, q))
        y = (x.astype(np.float64) @ mix + 2.0 * rng.standard_normal((n, q)) + 3.0).astype(np.float32)
        xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
        yc = y.astype(np.float64) - y.astype(np.float64).mean(axis=0)
        cka.append(np.linalg.norm(yc.T @ xc) ** 2 /
                   (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))
        save(f"cka_x{case}.npy", x)
        save(f"cka_y{case}.npy", y)
    save("cka_ref.npy", np.array(cka, dtype=np.float64))


if __name__ == "__main__":
    main()
