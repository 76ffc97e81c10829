import numpy as np
import pytest

import shopml


def test_wrong_dtypes_and_lengths():
    with pytest.raises(shopml.InvalidInputError, match="float ids"):
        shopml.Dataset.from_arrays(np.array([1.5, 2.0]), np.array([1, 2]))
    with pytest.raises(shopml.InvalidInputError, match="≥ 0"):
        shopml.Dataset.from_arrays(np.array([-1, 2]), np.array([1, 2]))
    with pytest.raises(shopml.InvalidInputError, match="length"):
        shopml.Dataset.from_arrays(np.array([1, 2, 3]), np.array([1, 2]))
    with pytest.raises(shopml.InvalidInputError, match="weight"):
        shopml.Dataset.from_arrays([1, 2], [1, 2], weights=[1.0, float("nan")])
    with pytest.raises(shopml.InvalidInputError, match="None"):
        shopml.Dataset.from_arrays(["a", None], ["x", "y"])
    with pytest.raises(shopml.InvalidInputError, match="mixes"):
        shopml.Dataset.from_arrays(["a", 1], ["x", "y"])
    with pytest.raises(shopml.InvalidInputError, match="must not be empty"):
        shopml.Dataset.from_arrays(["a", ""], ["x", "y"])
    d = shopml.Dataset.from_arrays(["a", "b"], ["x", "y"])
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(shopml.InvalidInputError, match=r"items\[1\].*price"):
            d.with_items(["x", "z"], prices=[1.0, bad])
    with pytest.raises(shopml.InvalidInputError, match="1-D"):
        shopml.Dataset.from_arrays(np.zeros((2, 2), dtype=int), [1, 2])
    with pytest.raises(shopml.InvalidInputError):
        shopml.Dataset.from_arrays(None, [1])
    with pytest.raises(shopml.InvalidInputError, match="empty"):
        shopml.ALS().fit(shopml.Dataset.from_arrays([], []))
    with pytest.raises(shopml.InvalidInputError, match="scipy"):
        shopml.ALS().fit([[1, 2]])


def test_bad_parameters():
    with pytest.raises(shopml.InvalidInputError, match="valid: factors"):
        shopml.Recommender("als", factorz=3)
    with pytest.raises(shopml.InvalidInputError, match="not one of"):
        shopml.Recommender("svd")
    with pytest.raises(shopml.InvalidInputError):
        shopml.ALS(factors=-3)
    with pytest.raises(shopml.InvalidInputError):
        shopml.ALS(factors={"a": 1})


def test_serving_errors(fitted):
    with pytest.raises(shopml.InvalidInputError, match="k"):
        fitted.recommend(100, k=0)
    with pytest.raises(shopml.InvalidInputError, match="k"):
        fitted.recommend(100, k=-5)
    with pytest.raises(shopml.InvalidInputError, match="k"):
        fitted.recommend(100, k="ten")
    ids, _ = fitted.recommend(100, k=10**15)  # huge k: everything that passes the filter
    assert len(ids) == 8
    with pytest.raises(shopml.InvalidInputError, match="None"):
        fitted.recommend(None)
    with pytest.raises(shopml.InvalidInputError, match="bool"):
        fitted.recommend(100, k=True)
    with pytest.raises(shopml.InvalidInputError, match="float"):
        fitted.recommend(1.5)
    with pytest.raises(shopml.InvalidInputError, match="≥ 0"):
        fitted.recommend(-1)
    with pytest.raises(shopml.InvalidInputError, match="max_price"):
        fitted.recommend(100, min_price=5.0, max_price=1.0)
    with pytest.raises(shopml.InvalidInputError, match="finite"):
        fitted.recommend(100, min_price=float("nan"))
    with pytest.raises(shopml.UnknownIdError, match="unknown item"):
        fitted.similar_items(999)
    with pytest.raises(KeyError):  # UnknownIdError is also a KeyError
        fitted.similar_items(999)


def test_not_fitted_and_closed(fitted, tmp_path):
    with pytest.raises(shopml.NotFittedError):
        shopml.ALS().recommend(1)
    fitted.close()
    with pytest.raises(shopml.ModelClosedError):
        fitted.recommend(100)
    with pytest.raises(shopml.ModelClosedError):
        fitted.save(tmp_path / "x.shopml")
    with shopml.ALS(factors=4, iterations=2).fit(shopml.Dataset.from_arrays([1, 2], [1, 1])) as m:
        m.recommend(1)
    with pytest.raises(shopml.ModelClosedError):
        m.recommend(1)


def test_bad_files(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="no/such"):
        shopml.Recommender.load("/no/such/model.shopml")
    path = tmp_path / "m.shopml"
    fitted.save(path)
    data = path.read_bytes()
    (tmp_path / "cut.shopml").write_bytes(data[: len(data) // 2])
    with pytest.raises(shopml.FileFormatError):
        shopml.Recommender.load(tmp_path / "cut.shopml")
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    (tmp_path / "flip.shopml").write_bytes(bytes(flipped))
    with pytest.raises(shopml.FileFormatError, match="checksum"):
        shopml.Recommender.load(tmp_path / "flip.shopml")
    with pytest.raises(shopml.FileFormatError):
        shopml.IntentClassifier.load(path)  # a recommendation model is not an intent model
    with pytest.raises(shopml.InvalidInputError, match="unsupported format"):
        shopml.Dataset.load(path, format="excel")
