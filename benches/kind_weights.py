#!/usr/bin/env python3
"""Tunes the per-kind event weights (`--kind-weights`) on a file whose events have kinds.

For each model, every (view, add-to-cart) weight pair of the grid (purchase fixed at 1; search-click
follows view) is scored on the leave-one-out *validation* split (each customer's second-to-last
purchase: with mixed kinds `shopml reco eval` holds out purchases), the pair with the best NDCG@10 is
chosen there, and only the chosen pair and the defaults are then scored on the test split. Prints one
table. Stdlib only; runs the release CLI.

usage: python3 benches/kind_weights.py --data events.csv [--user-col user] [--item-col item]
           [--time-col time] [--kind-col kind] [--models itemknn,als,transition]
       python3 benches/kind_weights.py --movielens-proxy ../shared/datasets/movielens-100k/u.data

`--movielens-proxy` builds a two-kind file from MovieLens ratings (≤ 3 stars → view, ≥ 4 → purchase):
real data, but a proxy for shop events, not a shop's views and purchases.
"""
import argparse
import csv
import json
import os
import subprocess
import tempfile

VIEW = [0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
CART = [0.0, 0.25, 0.5, 1.0, 2.0]


def evaluate(a, model, weights, split):
    cmd = [a.shopml, "reco", "eval", "--data", a.data, "--format", "csv", "--user-col", a.user_col,
           "--item-col", a.item_col, "--kind-col", a.kind_col, "--model", model, "--split", split,
           "--kind-weights", weights, "--protocol", "loo-full", "--json", "--quiet"]
    if a.time_col:
        cmd += ["--time-col", a.time_col]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    assert out["held_out"] == "last purchase", f"the file does not mix purchases with other kinds: {out}"
    return out["metrics"]["ndcg@10"], out["metrics"]["hr@10"]


def movielens_proxy(path):
    out = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="")
    w = csv.writer(out)
    w.writerow(["user", "item", "time", "kind"])
    with open(path) as f:
        for line in f:
            user, item, rating, ts = line.split()[:4]
            w.writerow([user, item, ts, "purchase" if int(rating) >= 4 else "view"])
    out.close()
    return out.name


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shopml", default=os.path.join(target, "release/shopml"))
    ap.add_argument("--data")
    ap.add_argument("--movielens-proxy", metavar="U_DATA")
    ap.add_argument("--user-col", default="user")
    ap.add_argument("--item-col", default="item")
    ap.add_argument("--time-col", default="time")
    ap.add_argument("--kind-col", default="kind")
    ap.add_argument("--models", default="itemknn,als,transition")
    a = ap.parse_args()
    if bool(a.data) == bool(a.movielens_proxy):
        ap.error("give --data FILE.csv or --movielens-proxy u.data")
    if a.movielens_proxy:
        a.data = movielens_proxy(a.movielens_proxy)
    with open(a.data, newline="") as f:
        kinds = {row[a.kind_col].strip().lower().replace("_", "-") for row in csv.DictReader(f)}
    views = VIEW if kinds & {"view", "search-click", "click"} else [0.25]
    carts = CART if kinds & {"add-to-cart", "cart"} else [0.5]
    print(f"data: {a.data}; kinds {sorted(kinds)}; grid view (= search-click) {views} × add-to-cart {carts}, "
          "purchase 1; loo-full, NDCG@10 / HR@10")
    print("| model | split | weights | NDCG@10 | HR@10 |")
    print("|---|---|---|---|---|")
    default = "view=0.25,search-click=0.25,add-to-cart=0.5,purchase=1"
    for model in a.models.split(","):
        scored = {}
        for v in views:
            for c in carts:
                weights = f"view={v},search-click={v},add-to-cart={c},purchase=1"
                scored[weights] = evaluate(a, model, weights, "valid")
                print(f"| {model} | valid | `{weights}` | {scored[weights][0]:.4f} | {scored[weights][1]:.4f} |")
        best = max(scored, key=lambda k: scored[k][0])
        for label, weights in [("chosen on valid", best), ("defaults", default)]:
            ndcg, hr = evaluate(a, model, weights, "test")
            print(f"| {model} | **test** | {label}: `{weights}` | {ndcg:.4f} | {hr:.4f} |", flush=True)


if __name__ == "__main__":
    main()
