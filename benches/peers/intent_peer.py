#!/usr/bin/env python3
"""shopml's fast intent model vs scikit-learn (TF-IDF word 1-2 + char_wb 2-5 n-grams, logistic
regression) and fastText (PyPI `fasttext-wheel`), same splits, same run, one table.

CLINC150 (data_full.json): every system trains on train + oos_train (out-of-scope as a 151st class),
and a message is out of scope when the predicted class is `oos` or the top probability is below a
threshold. The trade-off curve (in-scope accuracy vs out-of-scope recall over all thresholds, on the
test split) is compared at fixed out-of-scope recall levels and plotted (--plot FILE.svg).
Bitext customer support: train.csv → test.csv accuracy and macro-F1.
Latency: one message at a time, single thread, over the first 1,000 test messages (p50/p99, µs);
shopml's is measured the same way inside `shopml chat eval`.

usage: python benches/peers/intent_peer.py [--shopml target/release/shopml] [--data ../shared/datasets]
           [--plot benches/intent_tradeoff.svg] [--readme]
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

LEVELS = [0.25, 0.60, 0.79, 0.886]


def curve_from(probs, labels, gold, oos="oos"):
    """(threshold, in-scope accuracy, oos recall) at every distinct confidence."""
    labels = np.asarray(labels)
    top = probs.argmax(1)
    conf = probs[np.arange(len(top)), top]
    pred = labels[top]
    gold = np.asarray(gold)
    is_oos = gold == oos
    pts = []
    for t in np.unique(np.concatenate([[0.0], np.quantile(conf, np.linspace(0, 1, 400))])):
        judged = (pred == oos) | (conf < t)
        ins = (~judged & (pred == gold))[~is_oos].mean()
        rec = judged[is_oos].mean()
        pts.append((float(t), float(ins), float(rec)))
    return pts


def at_recall(curve, level):
    ok = [c[1] for c in curve if c[2] >= level]
    return max(ok) if ok else float("nan")


def latency(fn, texts):
    times = []
    for t in texts[:1000]:
        s = time.perf_counter()
        fn(t)
        times.append((time.perf_counter() - s) * 1e6)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def macro_f1(gold, pred):
    from sklearn.metrics import f1_score
    return f1_score(gold, pred, average="macro", labels=sorted(set(gold)))


def sklearn_run(train, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion
    vec = FeatureUnion([
        ("w", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
        ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
    ])
    s = time.perf_counter()
    x = vec.fit_transform([t for t, _ in train])
    clf = LogisticRegression(C=10, max_iter=2000)
    clf.fit(x, [l for _, l in train])
    secs = time.perf_counter() - s
    probs = clf.predict_proba(vec.transform([t for t, _ in test]))
    lat = latency(lambda t: clf.predict_proba(vec.transform([t])), [t for t, _ in test])
    return probs, list(clf.classes_), secs, lat


def fasttext_run(train, test):
    import fasttext
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for t, l in train:
            f.write(f"__label__{l} {t.replace(chr(10), ' ')}\n")
        path = f.name
    s = time.perf_counter()
    model = fasttext.train_supervised(input=path, epoch=25, lr=0.5, wordNgrams=2, minn=2, maxn=5, dim=100,
                                      loss="softmax", thread=2, verbose=0)
    secs = time.perf_counter() - s
    os.unlink(path)
    labels = [l.replace("__label__", "") for l in model.get_labels()]
    index = {l: i for i, l in enumerate(labels)}
    probs = np.zeros((len(test), len(labels)))
    # fasttext-wheel's `predict` wrapper breaks on numpy 2 (np.array(copy=False)); its C++ binding
    # `model.f.predict(text, k, threshold, on_unicode_error)` returns [(prob, label), ...] directly.
    for r, (t, _) in enumerate(test):
        for p, l in model.f.predict(t.replace("\n", " ") + "\n", -1, 0.0, "strict"):
            probs[r, index[l.replace("__label__", "")]] = p
    lat = latency(lambda t: model.f.predict(t + "\n", 1, 0.0, "strict"), [t for t, _ in test])
    return probs, labels, secs, lat


def shopml_run(binary, args):
    out = subprocess.run([binary, "chat", "eval", *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shopml", default="target/release/shopml")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--readme", action="store_true")
    a = ap.parse_args()
    rows, curves = [], {}

    # CLINC150
    path = os.path.join(a.data, "clinc150", "data_full.json")
    d = json.load(open(path))
    train = [(t, l) for t, l in d["train"]] + [(t, "oos") for t, _ in d["oos_train"]]
    test = [(t, l) for t, l in d["test"]] + [(t, "oos") for t, _ in d["oos_test"]]
    gold = [l for _, l in test]
    with tempfile.TemporaryDirectory() as tmp:
        cpath = os.path.join(tmp, "curve.csv")
        ours = shopml_run(a.shopml, ["--format", "clinc150", "--train", path, "--curve", cpath])
        cur = [(float(r["threshold"]), float(r["in_scope_accuracy"]), float(r["oos_recall"]))
               for r in csv.DictReader(open(cpath))]
    curves["shopml"] = cur
    rows.append(("clinc150", "shopml", cur, ours["train_seconds"], ours["latency_us"]["p50"],
                 ours["latency_us"]["p99"]))
    for name, fn in [("sklearn tfidf+LR", sklearn_run), ("fastText", fasttext_run)]:
        probs, labels, secs, (p50, p99) = fn(train, test)
        cur = curve_from(probs, labels, gold)
        curves[name] = cur
        rows.append(("clinc150", name, cur, secs, p50, p99))

    # Bitext
    bdir = os.path.join(a.data, "bitext-customer-support")
    btrain_p = os.path.join(bdir, "bitext_customer_support_train.csv")
    btest_p = os.path.join(bdir, "bitext_customer_support_test.csv")
    read = lambda p: [(r["utterance"], r["intent"]) for r in csv.DictReader(open(p, encoding="utf-8"))]
    btrain, btest = read(btrain_p), read(btest_p)
    ours = shopml_run(a.shopml, ["--format", "csv", "--train", btrain_p, "--test", btest_p])
    brows = [("shopml", ours["accuracy"], ours["macro_f1"], ours["train_seconds"], ours["latency_us"]["p50"],
              ours["latency_us"]["p99"], len(ours["errors"]))]
    bgold = [l for _, l in btest]
    for name, fn in [("sklearn tfidf+LR", sklearn_run), ("fastText", fasttext_run)]:
        probs, labels, secs, (p50, p99) = fn(btrain, btest)
        pred = [labels[i] for i in probs.argmax(1)]
        acc = float(np.mean([p == g for p, g in zip(pred, bgold)]))
        brows.append((name, acc, macro_f1(bgold, pred), secs, p50, p99, sum(p != g for p, g in zip(pred, bgold))))

    lines = ["**CLINC150** (test: 4,500 in-scope + 1,000 out-of-scope; in-scope accuracy at the best threshold "
             "reaching each out-of-scope recall)", "",
             "| system | no threshold (in-scope / oos recall) | " +
             " | ".join(f"oos recall ≥ {l:.3g}" for l in LEVELS) + " | train s | p50 µs | p99 µs |",
             "|---|---|" + "---|" * len(LEVELS) + "---|---|---|"]
    for ds, name, cur, secs, p50, p99 in rows:
        zero = cur[0]
        cells = " | ".join(f"{at_recall(cur, l):.4f}" for l in LEVELS)
        lines.append(f"| {name} | {zero[1]:.4f} / {zero[2]:.3f} | {cells} | {secs:.1f} | {p50:.1f} | {p99:.1f} |")
    lines += ["", "**Bitext customer support** (test.csv, 4,307 messages, 27 intents)", "",
              "| system | accuracy | macro-F1 | errors | train s | p50 µs | p99 µs |", "|---|---|---|---|---|---|---|"]
    for name, acc, f1, secs, p50, p99, errs in brows:
        lines.append(f"| {name} | {acc:.4f} | {f1:.4f} | {errs} | {secs:.1f} | {p50:.1f} | {p99:.1f} |")
    text = "\n".join(lines)
    print(text)

    if a.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name, cur in curves.items():
            cur = sorted(cur, key=lambda c: c[2])
            ax.plot([c[2] for c in cur], [c[1] for c in cur], label=name)
        ax.set_xlabel("out-of-scope recall")
        ax.set_ylabel("in-scope accuracy")
        ax.set_ylim(0.6, 1.0)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title("CLINC150 test: accuracy / out-of-scope trade-off")
        fig.tight_layout()
        fig.savefig(a.plot)
        print(f"plot: {a.plot}")
    if a.readme:
        readme = "benches/README.md"
        body = open(readme).read()
        block = f"<!-- intent:begin -->\n{text}\n<!-- intent:end -->"
        if "<!-- intent:begin -->" in body:
            body = re.sub(r"<!-- intent:begin -->.*<!-- intent:end -->", lambda _: block, body, flags=re.S)
        else:
            body += "\n" + block + "\n"
        open(readme, "w").write(body)


if __name__ == "__main__":
    sys.exit(main())
