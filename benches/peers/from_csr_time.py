#!/usr/bin/env python3
"""Time of `shopml.Dataset.from_csr` on a random 200k users × 50k items scipy matrix with 1M stored
entries (weights 1–4), the shape `implicit` users hand over.

usage: python benches/peers/from_csr_time.py   (in the venv of scripts/python-env, after maturin develop)
"""
import time

import numpy as np
import scipy.sparse as sp

import shopml

rng = np.random.default_rng(0)
m = sp.random(200_000, 50_000, density=1e-4, format="csr", random_state=rng,
              data_rvs=lambda n: rng.integers(1, 5, n).astype(np.float32))
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    shopml.Dataset.from_csr(m)
    best = min(best, time.perf_counter() - t)
print(f"from_csr, {m.nnz} stored entries: {best:.2f} s (best of 3)")
