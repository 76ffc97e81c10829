import json
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import shopml
from conftest import BASKETS, FIXTURES


def test_recommend_returns_numpy_ids_and_scores(fitted):
    ids, scores = fitted.recommend(100, k=2)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    assert len(ids) == len(scores) == 2
    assert not set(ids.tolist()) & set(BASKETS[100]), "seen items are filtered by default"
    assert set(ids.tolist()) <= set(range(6)), "tea shoppers get tea things"
    assert np.all(np.diff(scores) <= 0), "best first"


def test_filters(fitted):
    ids, _ = fitted.recommend(100, k=12, filter_already_seen=False)
    assert set(BASKETS[100]) <= set(ids.tolist())
    ids, _ = fitted.recommend(100, k=12, categories=["garden"])
    assert ids.size and set(ids.tolist()) <= set(range(6, 12))
    ids, _ = fitted.recommend(100, k=12, categories="garden", exclude=[6, 7], out_of_stock=[8])
    assert not {6, 7, 8} & set(ids.tolist())
    ids, _ = fitted.recommend(100, k=12, filter_already_seen=False, min_price=2.5, max_price=4.5)
    assert set(ids.tolist()) == {2, 3}


def test_batch_recommend_is_2d_and_matches_single_calls(fitted):
    users = np.array([100, 200, 999])
    ids, scores = fitted.recommend(users, k=2)
    assert ids.shape == scores.shape == (3, 2)
    for row, u in enumerate(users):
        one, s = fitted.recommend(int(u), k=2)
        assert ids[row].tolist() == one.tolist()
        np.testing.assert_allclose(scores[row], s)
    # Fewer results than k: padded with -1 / NaN.
    ids, scores = fitted.recommend([100], k=12)
    assert ids.shape == (1, 12) and (ids[0] == -1).sum() == 4 and np.isnan(scores[0]).sum() == 4


def test_similar_items_and_sessions(fitted):
    ids, scores = fitted.similar_items(0, k=3)
    assert 0 not in ids.tolist() and set(ids.tolist()) <= set(range(6))
    ids, _ = fitted.recommend_items([6, 7], k=3)
    assert set(ids.tolist()) <= set(range(6, 12))


def test_ids_of_either_kind_name_the_same_user(fitted, tmp_path):
    assert fitted.recommend("100", k=2)[0].tolist() == fitted.recommend(100, k=2)[0].tolist()
    path = tmp_path / "m.shopml"
    fitted.save(path)
    back = shopml.Recommender.load(path)  # the kind is guessed from the ids: all ints here
    assert back.recommend("100", k=2)[0].tolist() == fitted.recommend(100, k=2)[0].tolist()


def test_csr_stored_zeros_are_no_interaction():
    sparse = pytest.importorskip("scipy.sparse")
    m = sparse.csr_matrix((np.array([1.0, 0.0, 2.0], dtype=np.float32), ([0, 0, 1], [0, 1, 1])), shape=(2, 2))
    d = shopml.Dataset.from_csr(m)
    assert len(d) == 2


def test_unknown_user_gets_popular_items(fitted):
    ids, _ = fitted.recommend(123456, k=3)
    assert len(ids) == 3


def test_string_ids_round_trip(arrays):
    users, items = arrays
    d = shopml.Dataset.from_arrays([f"u{u}" for u in users], [f"i{i}" for i in items])
    m = shopml.ALS(factors=8, iterations=5).fit(d)
    ids, scores = m.recommend("u100", k=2)
    assert ids.dtype == object and all(isinstance(i, str) and i.startswith("i") for i in ids)
    assert m.user_ids.dtype == object


def test_csr_input_matches_arrays(arrays):
    sparse = pytest.importorskip("scipy.sparse")
    users, items = arrays
    m = sparse.csr_matrix((np.ones(len(users), dtype=np.float32), (users - 0, items)), shape=(203, 12))
    a = shopml.ItemKNN().fit(m)
    b = shopml.ItemKNN().fit(shopml.Dataset.from_arrays(users, items))
    for u in BASKETS:
        assert a.recommend(u, k=5)[0].tolist() == b.recommend(u, k=5)[0].tolist()


def test_pandas_frame(arrays):
    pd = pytest.importorskip("pandas")
    users, items = arrays
    df = pd.DataFrame({"customer": users, "product": items, "qty": np.ones(len(users))})
    d = shopml.Dataset.from_frame(df, user="customer", item="product", weight="qty")
    assert len(d) == len(users) and d.n_users == 6
    with pytest.raises(shopml.InvalidInputError, match="no column `user`"):
        shopml.Dataset.from_frame(df)


def test_polars_frame(arrays):
    pl = pytest.importorskip("polars")
    users, items = arrays
    d = shopml.Dataset.from_frame(pl.DataFrame({"user": users, "item": items}))
    assert len(d) == len(users)


def test_save_load_and_pickle_give_identical_scores(fitted, tmp_path):
    path = tmp_path / "m.shopml"
    fitted.save(path)
    back = shopml.Recommender.load(path)
    clone = pickle.loads(pickle.dumps(fitted))
    for u in BASKETS:
        want = fitted.recommend(u, k=5)
        for m in (back, clone):
            got = m.recommend(u, k=5)
            assert got[0].tolist() == want[0].tolist()
            np.testing.assert_array_equal(got[1], want[1])
    unfitted = pickle.loads(pickle.dumps(shopml.ALS(factors=8)))
    assert not unfitted.is_fitted and unfitted.params["factors"] == 8


def test_committed_model_file_gives_the_rust_lists():
    """Parity: the lists reco-core's own test checks for the committed model files (Rust side:
    `reco-core/tests/serving.rs::parity_lists_match_the_committed_file`)."""
    expected = json.loads((FIXTURES / "parity-top10.json").read_text())
    for name, users in expected.items():
        m = shopml.Recommender.load(FIXTURES / f"shop-{name}-v1.shopml")
        for user, want in users.items():
            ids, scores = m.recommend(user, k=10)
            assert ids.tolist() == [i for i, _ in want], (name, user)
            np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-6)


def test_evaluate_returns_metrics(dataset):
    r = shopml.ItemKNN().evaluate(dataset, protocol="loo-full", k=5)
    assert set(r) >= {"hr", "ndcg", "precision", "recall", "f1", "mrr", "coverage", "users", "fit_seconds"}
    assert 0.0 <= r["ndcg"] <= r["hr"] <= 1.0 and r["users"] == 6
    cold = shopml.Content().evaluate(dataset, protocol="cold-items", k=5, cold_fraction=0.2)
    assert cold["protocol"] == "cold-items"


def test_kind_weights_multiply_and_mixed_kinds_hold_out_purchases():
    users = ["a", "a", "a", "a", "b", "b"]
    items = ["x", "y", "z", "w", "x", "y"]
    kinds = ["view", "add-to-cart", "purchase", "view", "purchase", "purchase"]
    d = shopml.Dataset.from_arrays(users, items, weights=[2.0] * 6, kinds=kinds, kind_weights={"view": 0.5})
    assert d.kind_weights == {"view": 0.5, "search-click": 0.25, "add-to-cart": 0.5, "purchase": 1.0}
    # a's last purchase is z: the view of w after it is not trained on
    train, test_users, test_items = d.leave_one_out()
    assert dict(zip(test_users.tolist(), test_items.tolist())) == {"a": "z", "b": "y"}
    tu, ti, _, _ = train.to_arrays()
    assert sorted(i for u, i in zip(tu.tolist(), ti.tolist()) if u == "a") == ["x", "y"]
    assert train.kind_weights == d.kind_weights
    assert shopml.ItemKNN().evaluate(d, k=3)["held_out"] == "last purchase"
    # 0 leaves a kind out of the fit: w was only viewed, so it has neighbours only while views count
    counted = shopml.ItemKNN().fit(d)
    assert len(counted.similar_items("w", k=3)[0]) > 0
    d = shopml.Dataset.from_arrays(users, items, kinds=kinds, kind_weights="view=0")
    assert len(shopml.ItemKNN().fit(d).similar_items("w", k=3)[0]) == 0
    for bad, says in [({"like": 1.0}, "like"), ({"view": -1.0}, "≥ 0"), ("view", "KIND=WEIGHT"), (3, "dict")]:
        with pytest.raises(ValueError, match=says):
            shopml.Dataset.from_arrays(users, items, kinds=kinds, kind_weights=bad)


def test_models_fit_with_keyword_parameters(dataset):
    for m in [
        shopml.Popularity(),
        shopml.ALS(factors=8, iterations=3),
        shopml.BPR(factors=8, epochs=3),
        shopml.GMF(factors=8, epochs=2),
        shopml.NeuMF(factors=8, tower=[16, 8], epochs=2, pretrain=False),
        shopml.Content(),
        shopml.Hybrid(weight=0.5, factors=8),
    ]:
        ids, _ = m.fit(dataset).recommend(100, k=2)
        assert len(ids) == 2, m


def test_progress_callback_and_interrupt(dataset):
    steps = []
    shopml.ALS(factors=4, iterations=3).fit(dataset, show_progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 3), (2, 3), (3, 3)]

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt
    m = shopml.ALS(factors=4, iterations=50)
    with pytest.raises(KeyboardInterrupt):
        m.fit(dataset, show_progress=stop)
    assert not m.is_fitted, "an interrupted fit leaves the model as it was"

    # item-kNN reports once, when fitted; a hybrid through its collaborative fit — so both can be stopped
    steps.clear()
    shopml.ItemKNN().fit(dataset, show_progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 1)]
    steps.clear()
    shopml.Hybrid(cf="als", factors=4, iterations=2, weight=0.5).fit(dataset, show_progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 2), (2, 2)]
    m = shopml.ItemKNN()
    with pytest.raises(KeyboardInterrupt):
        m.fit(dataset, show_progress=stop_at_once)
    assert not m.is_fitted


def stop_at_once(done, total):
    raise KeyboardInterrupt


def big():
    rng = np.random.default_rng(7)
    return shopml.Dataset.from_arrays(rng.integers(0, 3000, 60_000), rng.integers(0, 2000, 60_000))


def test_ctrl_c_interrupts_a_long_fit():
    import _thread

    dataset = big()
    m = shopml.ALS(factors=64, iterations=1000)
    t = time.perf_counter()
    # A process started in the background by a non-interactive shell ignores SIGINT, and then Python
    # (and `interrupt_main`) leave it ignored: install Python's own handler for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            timer = threading.Timer(0.3, _thread.interrupt_main)
            timer.start()
            try:
                m.fit(dataset)
            finally:
                timer.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - t < 10
    assert not m.is_fitted


def test_fit_releases_the_gil():
    dataset = big()
    m = shopml.ALS(factors=32, iterations=30)
    done = threading.Event()
    errors = []
    ticks = 0

    def fit():
        try:
            m.fit(dataset)
        except BaseException as e:  # re-raised below
            errors.append(e)
        finally:
            done.set()

    th = threading.Thread(target=fit)
    th.start()
    while not done.wait(0.001):
        ticks += 1
    th.join(timeout=60)
    assert not errors, errors
    assert m.is_fitted and ticks > 10, "the main thread ran while the fit did"


def test_build_index_keeps_serving(dataset):
    m = shopml.ALS(factors=8, iterations=5).fit(dataset)
    exact = m.recommend(100, k=3)[0].tolist()
    m.build_index(m=8, ef_construction=50, ef_search=50)
    assert m.recommend(100, k=3)[0].tolist() == exact


def test_shipped_online_retail(tmp_path):
    from conftest import DATASETS

    d = shopml.Dataset.load(DATASETS / "online-retail" / "online_retail.csv.gz")
    m = shopml.ALS().fit(d)
    ids, scores = m.recommend(17850, k=10)
    assert len(ids) == 10 and ids.dtype == object  # stock codes such as 85123A are text


def ring_dataset():
    """60 shoppers walk a ring of 12 products in order: each buys the next one, six times."""
    users, items, times = [], [], []
    for u in range(60):
        for t in range(6):
            users.append(u)
            items.append((u + t) % 12)
            times.append(t)
    return shopml.Dataset.from_arrays(np.array(users), np.array(items), timestamps=np.array(times))


@pytest.mark.parametrize("make", [
    lambda: shopml.Transition(),
    lambda: shopml.SKNN(),
    lambda: shopml.SASRec(hidden=16, epochs=60, max_len=8, dropout=0.1, learning_rate=0.01),
    lambda: shopml.Recommender("fusion", a="sknn", b="transition", weight=0.5, **{"b.window": 2}),
])
def test_sequential_models_recommend_next_and_take_live_events(make):
    m = make().fit(ring_dataset())
    ids, _ = m.recommend_next([3, 4], k=1)
    assert ids.tolist() == [5]
    # unknown ids are ignored; an empty history gets popular items
    assert m.recommend_next([3, 999, 4], k=1)[0].tolist() == [5]
    assert len(m.recommend_next([], k=3)[0]) == 3
    with pytest.raises(shopml.InvalidInputError):
        m.recommend_next([3], k=0)
    # customer 0 bought 0..5: next is 6; after a live event on 9, next is 10, without a refit
    assert m.recommend(0, k=1)[0].tolist() == [6]
    m.record_event(0, 9)
    assert m.live_events(0).tolist() == [9]
    assert m.recommend(0, k=1)[0].tolist() == [10]
    assert m.recommend([0, 1], k=1)[0][0].tolist() == [10]
    m.forget(0)
    assert m.recommend(0, k=1)[0].tolist() == [6]
