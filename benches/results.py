#!/usr/bin/env python3
"""Runs `shopml reco eval --json` for every model on every dataset and protocol, and writes the results
table into benches/README.md (between the RESULTS markers). Stdlib only.

usage: python3 benches/results.py [--suite main|ncf|cold] [--shopml target/release/shopml]
                                  [--shared ../shared/datasets] [--dry-run]
"""
import argparse
import json
import os
import platform
import subprocess
import sys

RUNS = [
    # (dataset label, path under shared or repo, format, protocols)
    ("amazon-beauty", "shared:amazon-beauty/Beauty.txt", "s3rec", ["loo-full", "loo-sampled"]),
    ("movielens-100k", "shared:movielens-100k/u.data", "movielens", ["loo-full", "loo-sampled"]),
    ("online-retail", "repo:datasets/online-retail/online_retail.csv.gz", "online-retail", ["loo-full"]),
]
MODELS = [("pop", []), ("itemknn", []), ("als", []), ("bpr", []), ("content", []), ("hybrid", [])]
# NCF table (issue 3): the NCF paper's protocol on MovieLens, full ranking on Beauty.
NCF_RUNS = [
    ("movielens-100k", "shared:movielens-100k/u.data", "movielens", ["loo-sampled"]),
    ("amazon-beauty", "shared:amazon-beauty/Beauty.txt", "s3rec", ["loo-full"]),
]
NCF_MODELS = [("gmf", []), ("mlp", []), ("neumf (no pre-training)", ["pretrain=false"]), ("neumf", []), ("als", [])]
COLD_RUNS = [("online-retail", "repo:datasets/online-retail/online_retail.csv.gz", "online-retail", ["cold-items"])]
COLD_MODELS = [("pop", []), ("als", []), ("content", []), ("hybrid", [])]
SUITES = {
    "main": (RUNS, MODELS, "RESULTS"),
    "ncf": (NCF_RUNS, NCF_MODELS, "NCF"),
    "cold": (COLD_RUNS, COLD_MODELS, "COLD"),
}


def resolve(spec, shared, root):
    kind, rel = spec.split(":", 1)
    return os.path.join(shared if kind == "shared" else root, rel)


def run(binary, path, fmt, model, params, protocol):
    cmd = [binary, "reco", "eval", "--data", path, "--format", fmt, "--model", model, "--protocol", protocol, "--json", "--quiet"]
    for p in params:
        cmd += ["--param", p]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out), " ".join(cmd[1:]).replace(path, os.path.relpath(path))


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shopml", default=os.path.join(root, "target/release/shopml"))
    ap.add_argument("--shared", default=os.path.join(root, "../shared/datasets"))
    ap.add_argument("--dry-run", action="store_true", help="print the table, do not edit README.md")
    ap.add_argument("--suite", default="main", choices=sorted(SUITES), help="main | ncf | cold")
    a = ap.parse_args()
    lines = [
        f"Produced by `python3 benches/results.py` ({platform.machine()}, {os.cpu_count()} cores); "
        "default hyper-parameters, k = 10, seed 42. `pop†` counts popularity on all data including the "
        "held-out items (`--param count=all`), as S3-Rec's PopRec does — for the protocol check only.",
        "",
        "| dataset | protocol | model | users | HR@10 | NDCG@10 | MRR | coverage@10 | fit s | eval s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs, model_list, marker = SUITES[a.suite]
    for label, spec, fmt, protocols in runs:
        path = resolve(spec, a.shared, root)
        if not os.path.exists(path):
            print(f"skipped {label}: {path} not found", file=sys.stderr)
            continue
        for protocol in protocols:
            models = list(model_list)
            if a.suite == "main" and label == "amazon-beauty" and protocol == "loo-full":
                models.insert(1, ("pop†", ["count=all"]))
            for name, params in models:
                r, _ = run(a.shopml, path, fmt, name.rstrip("†").split(" ")[0], params, protocol)
                m = r["metrics"]
                row = (f"| {label} | {protocol} | {name} | {r['users_evaluated']} | {m['hr@10']:.4f} | {m['ndcg@10']:.4f} "
                       f"| {m['mrr']:.4f} | {m['coverage@10']:.3f} | {r['fit_seconds']:.3f} | {r['eval_seconds']:.2f} |")
                print(row, flush=True)
                lines.append(row)
    table = "\n".join(lines)
    if a.dry_run:
        return
    readme = os.path.join(root, "benches/README.md")
    text = open(readme).read()
    start, end = f"<!-- {marker}:START -->", f"<!-- {marker}:END -->"
    i, j = text.index(start) + len(start), text.index(end)
    open(readme, "w").write(text[:i] + "\n" + table + "\n" + text[j:])
    print(f"wrote {readme}", file=sys.stderr)


if __name__ == "__main__":
    main()
