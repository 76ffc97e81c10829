import pathlib

import numpy as np
import pytest

import shopml

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "reco-core" / "tests" / "fixtures"
DATASETS = REPO / "datasets"

# Six shoppers: three like tea things (items 0-5), three like garden things (items 6-11).
BASKETS = {
    100: [0, 1, 2, 3],
    101: [1, 2, 3, 4],
    102: [0, 2, 4, 5],
    200: [6, 7, 8, 9],
    201: [7, 8, 9, 10],
    202: [6, 8, 10, 11],
}


@pytest.fixture
def arrays():
    users = np.array([u for u, items in BASKETS.items() for _ in items], dtype=np.int64)
    items = np.array([i for items in BASKETS.values() for i in items], dtype=np.int64)
    return users, items


@pytest.fixture
def dataset(arrays):
    users, items = arrays
    d = shopml.Dataset.from_arrays(users, items)
    return d.with_items(
        np.arange(12),
        categories=["tea"] * 6 + ["garden"] * 6,
        prices=np.linspace(1.0, 12.0, 12),
        texts=[f"tea cup pot {i}" for i in range(6)] + [f"garden spade pot {i}" for i in range(6)],
    )


@pytest.fixture
def fitted(dataset):
    return shopml.ItemKNN().fit(dataset)
