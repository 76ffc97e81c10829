#!/usr/bin/env python3
"""Per-call overhead of the Python and Node bindings vs the same call in Rust, one table, same run.

The call: `recommend(user, k=10)` with the default filter (seen items excluded), cycling over the
model's users, `--calls` calls per run, best of 5 runs, after a warm-up; Rust, Python and Node take
turns `--rounds` times and each side's best counts. Models: the committed tiny
fixture (12 items: the call itself costs little, so the difference is the binding) and ALS on the
shipped Online Retail data (a realistic call). All three sides must be the same build profile of the
same engine code — by default the dev builds the tests use (engines and bindings at opt-level 3):

    cargo build -p shopml-benches --bin call_cost
    (cd py-bindings && maturin develop)      # in the Python env (scripts/python-env)
    (cd node-bindings && npm run build)

or, for `--profile release`: `cargo build --release -p shopml-benches --bin call_cost`,
`(cd py-bindings && maturin develop --release)`, `(cd node-bindings && npm run build:release)`.

usage: python benches/peers/binding_overhead.py [--calls 100000] [--profile debug|release] [--fixture-only]
           [--rounds 3]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import shopml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

NODE_LOOP = r"""
const { Recommender } = require(process.argv[1]);
const m = Recommender.load(process.argv[2]);
const calls = Number(process.argv[3]);
const users = process.argv.slice(4);
const run = (n) => { const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) m.recommend(users[i % users.length], 10); return Number(process.hrtime.bigint() - t) / n; };
run(calls / 10);
let best = Infinity; for (let r = 0; r < 5; r++) best = Math.min(best, run(calls));
console.log(JSON.stringify({ ns_per_call: best }));
"""


def python_ns(model, users, calls):
    def run(n):
        rec = model.recommend
        t = time.perf_counter_ns()
        for i in range(n):
            rec(users[i % len(users)], 10)
        return (time.perf_counter_ns() - t) / n
    run(calls // 10)
    return min(run(calls) for _ in range(5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--profile", default="debug", choices=["debug", "release"])
    ap.add_argument("--fixture-only", action="store_true", help="skip the Online Retail model")
    ap.add_argument("--rounds", type=int, default=3,
                    help="Rust, Python and Node measured in turn this many times; each side's best counts "
                         "(the machine is a shared VM: one slow moment should not decide a side)")
    a = ap.parse_args()
    rust_bin = TARGET / a.profile / "call_cost"
    cases = [("fixture ALS (12 items)", ROOT / "reco-core/tests/fixtures/shop-als-v1.shopml")]
    if not a.fixture_only:
        tmp = pathlib.Path(tempfile.mkdtemp())
        retail = shopml.ALS().fit(shopml.Dataset.load(ROOT / "datasets/online-retail/online_retail.csv.gz"))
        retail.save(tmp / "retail-als.shopml")
        cases.append(("Online Retail ALS (3.7k items)", tmp / "retail-als.shopml"))
    rows = []
    for name, path in cases:
        model = shopml.Recommender.load(path)
        users = [str(u) for u in model.user_ids[:200]]
        py_users = model.user_ids[:200].tolist()
        rust = py = node = float("inf")
        for _ in range(a.rounds):
            out = subprocess.check_output([rust_bin, path, str(a.calls), *users])
            rust = min(rust, json.loads(out)["ns_per_call"])
            py = min(py, python_ns(model, py_users, a.calls))
            out = subprocess.check_output(
                ["node", "-e", NODE_LOOP, str(ROOT / "node-bindings/index.js"), str(path), str(a.calls), *users])
            node = min(node, json.loads(out)["ns_per_call"])
        rows.append((name, rust, py, node))
    print(f"{'model':<32} {'Rust µs':>8} {'Python µs':>10} {'extra':>7} {'Node µs':>8} {'extra':>7}")
    for name, rust, py, node in rows:
        print(f"{name:<32} {rust / 1e3:8.2f} {py / 1e3:10.2f} {(py - rust) / 1e3:7.2f} {node / 1e3:8.2f} {(node - rust) / 1e3:7.2f}")
    print(f"({a.calls} calls per run, best of 5 runs, best of {a.rounds} rounds; recommend(user, k=10), "
          f"seen items excluded; {a.profile} builds)")


if __name__ == "__main__":
    sys.exit(main())
