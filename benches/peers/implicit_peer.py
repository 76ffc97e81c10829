#!/usr/bin/env python3
"""shopml vs `implicit` 0.7.3, side by side in one run, on the same leave-one-out split.

Both sides: train on everything but each user's last new item, rank that item against all items
(the user's training items excluded), 2 threads, factors 64. implicit runs with its own defaults
otherwise; its metrics are computed here with numpy, independently of shopml's evaluator, with the
same tie rule (equal scores: lower item index first).

usage: python benches/peers/implicit_peer.py [--data ../shared/datasets/amazon-beauty/Beauty.txt]
           [--format s3rec] [--shopml target/release/shopml] [--models als,bpr,itemknn]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def load_s3rec(path):
    users, items, seqs = {}, {}, []
    for line in open(path):
        tok = line.split()
        if not tok:
            continue
        u = users.setdefault(tok[0], len(users))
        seq = []
        seen = set()
        for it in tok[1:]:
            i = items.setdefault(it, len(items))
            if i not in seen:
                seen.add(i)
                seq.append(i)
        seqs.append((u, seq))
    return len(users), len(items), seqs


def load_movielens(path):
    rows = []
    for n, line in enumerate(open(path)):
        f = line.split()
        if len(f) == 4:
            rows.append((f[0], f[1], int(f[3]), n))
    users, items = {}, {}
    per_user = {}
    for u, i, t, n in rows:
        uu = users.setdefault(u, len(users))
        ii = items.setdefault(i, len(items))
        per_user.setdefault(uu, []).append((t, n, ii))
    seqs = []
    for u in range(len(users)):
        seen, seq = set(), []
        for _, _, i in sorted(per_user[u]):
            if i not in seen:
                seen.add(i)
                seq.append(i)
        seqs.append((u, seq))
    return len(users), len(items), seqs


def split(n_users, n_items, seqs):
    rows, cols, test = [], [], []
    for u, seq in seqs:
        held = seq[-1] if len(seq) >= 2 else None
        if held is not None:
            test.append((u, held))
        for i in seq:
            if i != held:
                rows.append(u)
                cols.append(i)
    train = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_users, n_items))
    return train, test


def evaluate(score_fn, train, test, k=10):
    hr = ndcg = 0.0
    users = np.array([u for u, _ in test])
    targets = np.array([i for _, i in test])
    for s in range(0, len(test), 1024):
        us, ts = users[s:s + 1024], targets[s:s + 1024]
        scores = np.asarray(score_fn(us), dtype=np.float64)
        sub = train[us]
        r_idx = np.repeat(np.arange(len(us)), np.diff(sub.indptr))
        scores[r_idx, sub.indices] = -np.inf
        t = scores[np.arange(len(us)), ts][:, None]
        idx = np.arange(scores.shape[1])[None, :]
        rank = ((scores > t) | ((scores == t) & (idx < ts[:, None]))).sum(axis=1)
        hit = rank < k
        hr += hit.sum()
        ndcg += (1.0 / np.log2(rank[hit] + 2)).sum()
    return hr / len(test), ndcg / len(test)


# shopml's defaults expressed in implicit's terms. ALS: shopml's confidence is 1 + alpha * ln(1 + w), so on
# binary data implicit's alpha (confidence = alpha * w) is 1 + 30 ln 2; both use reg * I.
SAME_PARAMS = {
    "als": dict(alpha=1.0 + 30.0 * math.log(2.0), regularization=30.0, iterations=15),
    "bpr": dict(learning_rate=0.3, regularization=0.03, iterations=30),
}


def run_implicit(name, train, test, same_params=False):
    import implicit
    from implicit.nearest_neighbours import BM25Recommender

    extra = SAME_PARAMS.get(name, {}) if same_params else {}
    if name == "als":
        model = implicit.als.AlternatingLeastSquares(factors=64, num_threads=2, random_state=42, **extra)
    elif name == "bpr":
        model = implicit.bpr.BayesianPersonalizedRanking(factors=64, num_threads=2, random_state=42, **extra)
    else:
        model = BM25Recommender(K=100, num_threads=2)
    with threadpool_limits(1, "blas"):
        t0 = time.perf_counter()
        model.fit(train.tocsr(), show_progress=False)
        fit = time.perf_counter() - t0
    if name == "itemknn":
        sim = model.similarity.tocsr()
        score = lambda us: (train[us] @ sim).toarray()  # noqa: E731
    else:
        uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)
        score = lambda us: uf[us] @ itf.T  # noqa: E731
    hr, ndcg = evaluate(score, train, test)
    return {"hr": hr, "ndcg": ndcg, "fit": fit}


def run_shopml(binary, data, fmt, name):
    out = subprocess.run(
        [binary, "reco", "eval", "--data", data, "--format", fmt, "--model", name, "--protocol", "loo-full", "--json", "--quiet"],
        check=True, capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "2"},
    ).stdout
    r = json.loads(out)
    return {"hr": r["metrics"]["hr@10"], "ndcg": r["metrics"]["ndcg@10"], "fit": r["fit_seconds"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/amazon-beauty/Beauty.txt")
    ap.add_argument("--format", default="s3rec", choices=["s3rec", "movielens"])
    ap.add_argument("--shopml", default="target/release/shopml")
    ap.add_argument("--models", default="als,bpr,itemknn")
    ap.add_argument("--repeat", type=int, default=3, help="fit-time repeats per side (the median is reported)")
    a = ap.parse_args()
    import implicit

    n_users, n_items, seqs = (load_s3rec if a.format == "s3rec" else load_movielens)(a.data)
    train, test = split(n_users, n_items, seqs)
    print(f"{os.path.basename(a.data)}: {n_users} users, {n_items} items, {train.nnz} train interactions, "
          f"{len(test)} test users; implicit {implicit.__version__}, loo-full, k=10, 2 threads\n")
    head = f"{'model':<8} {'side':<30} {'HR@10':>7} {'NDCG@10':>8} {'fit s':>7}"
    print(head)
    print("-" * len(head))
    for name in a.models.split(","):
        label = {"als": "ALS", "bpr": "BPR", "itemknn": "BM25(K=100)"}[name]
        ours_runs = [run_shopml(a.shopml, a.data, a.format, name) for _ in range(a.repeat)]
        ours = dict(ours_runs[0], fit=float(np.median([r["fit"] for r in ours_runs])))
        peers = [("implicit " + label + " defaults", False)]
        if name in SAME_PARAMS:
            peers.append(("implicit " + label + " shopml params", True))
        print(f"{name:<8} {'shopml (defaults)':<30} {ours['hr']:7.4f} {ours['ndcg']:8.4f} {ours['fit']:7.3f}")
        for peer_label, same in peers:
            runs = [run_implicit(name, train, test, same) for _ in range(a.repeat)]
            peer = dict(runs[0], fit=float(np.median([r["fit"] for r in runs])))
            print(f"{'':<8} {peer_label:<30} {peer['hr']:7.4f} {peer['ndcg']:8.4f} {peer['fit']:7.3f}"
                  f"   shopml/peer: HR {ours['hr'] / max(peer['hr'], 1e-12):.2f}  NDCG "
                  f"{ours['ndcg'] / max(peer['ndcg'], 1e-12):.2f}  fit time {ours['fit'] / max(peer['fit'], 1e-12):.2f}")
        sys.stdout.flush()

if __name__ == "__main__":
    main()
