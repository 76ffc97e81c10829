import pickle

import pytest

import shopml

TRAIN = [
    ("where is my order", "track_order"), ("track my parcel", "track_order"),
    ("has my order shipped yet", "track_order"), ("status of my order", "track_order"),
    ("where is my package", "track_order"), ("when will my order arrive", "track_order"),
    ("cancel my order", "cancel_order"), ("i want to cancel", "cancel_order"),
    ("please cancel the purchase", "cancel_order"), ("cancel order now", "cancel_order"),
    ("stop my order", "cancel_order"), ("i no longer want my order", "cancel_order"),
    ("do you have tea cups", "search_product"), ("looking for a lantern", "search_product"),
    ("show me candles", "search_product"), ("i need a gift bag", "search_product"),
    ("find heart decorations", "search_product"), ("search for mugs", "search_product"),
    ("hello", "greeting"), ("hi there", "greeting"), ("good morning", "greeting"),
    ("hey", "greeting"), ("hi", "greeting"), ("hello there", "greeting"),
]


@pytest.fixture(scope="module")
def clf():
    texts, labels = zip(*TRAIN)
    val = ["where's my parcel", "cancel this order", "have you got candles", "hey there"]
    val_labels = ["track_order", "cancel_order", "search_product", "greeting"]
    return shopml.IntentClassifier.train(list(texts), list(labels), val_texts=val, val_labels=val_labels,
                                         epochs=40, ensemble=1)


class Shop:
    """A notebook's own store: plain dicts, orders per customer."""

    def __init__(self):
        self.products = {
            "p1": {"id": "p1", "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.95, "stock": 10},
            "p2": {"id": "p2", "name": "RED TEA CUP", "price": 1.25, "category": "kitchen", "stock": 3},
        }
        self.orders = {"alice": {
            "536365": {"id": "536365", "status": "paid", "lines": [("p1", 2)], "total": 5.9},
            "536366": {"id": "536366", "status": "paid", "lines": [("p2", 1)], "total": 1.25},
        }}
        self.cancelled = []

    def search(self, query, min_price, max_price, limit):
        hits = [p for p in self.products.values() if any(w in p["name"].lower() for w in query.lower().split())]
        return [p for p in hits if (min_price is None or p["price"] >= min_price)
                and (max_price is None or p["price"] <= max_price)][:limit]

    def product(self, id):
        return self.products.get(id)

    def names(self):
        return [(p["id"], p["name"]) for p in self.products.values()]

    def orders(self, customer):
        return list(self.orders.get(customer, {}).values())

    def order(self, customer, id):
        return self.orders[customer][id]  # KeyError → "no such order"

    def cancel(self, customer, id):
        o = self.orders[customer][id]
        if o["status"] != "paid" or id == "536366":  # 536366: the warehouse has already packed it
            raise PermissionError("already packed")
        o["status"] = "cancelled"
        self.cancelled.append(id)
        return o


def test_too_little_data_for_a_validation_split():
    with pytest.raises(shopml.InvalidInputError, match="val_texts"):
        shopml.IntentClassifier.train(["hi", "where is my order"], ["greeting", "track_order"])
    with pytest.raises(shopml.InvalidInputError, match="entries"):
        shopml.IntentClassifier.train(["hi"], ["greeting", "track_order"])


def test_classifier_classifies_and_pickles(clf, tmp_path):
    label, conf, in_scope = clf.classify("where's my ordr?")
    assert label == "track_order" and 0 < conf <= 1 and in_scope
    assert set(clf.labels) == {"track_order", "cancel_order", "search_product", "greeting"}
    back = pickle.loads(pickle.dumps(clf))
    assert back.classify("cancel it please") == clf.classify("cancel it please")
    clf.save(tmp_path / "c.shopml")
    assert shopml.IntentClassifier.load(tmp_path / "c.shopml").classify("hello") == clf.classify("hello")


def test_assistant_over_a_python_store(clf):
    shop = Shop()
    bot = shopml.Assistant(clf, store=shop)
    r = bot.reply("c1", "where is my order?", customer_id="alice")
    assert r["intent"] == "track_order" and r["action"]["kind"] == "ask_slot"
    r = bot.reply("c1", "536365", customer_id="alice")
    assert r["action"] == {"kind": "order_status", "order": "536365"} and "paid" in r["text"]
    r = bot.reply("c1", "please cancel order 536365", customer_id="alice")
    assert r["action"]["kind"] == "confirm_cancel"
    r = bot.reply("c1", "yes", customer_id="alice")
    assert r["action"] == {"kind": "cancelled", "order": "536365"} and shop.cancelled == ["536365"]
    # The store refuses with PermissionError: a reply naming the order's real status, not a crash.
    bot.reply("c1", "please cancel order 536366", customer_id="alice")
    r = bot.reply("c1", "yes", customer_id="alice")
    assert r["action"]["kind"] != "cancelled" and "536366 is paid" in r["text"], r
    r = bot.reply("c2", "do you have a hart shaped t-light holder?")
    assert r["intent"] == "search_product" and "HEART" in r["text"]


def test_store_without_required_methods_is_rejected(clf):
    with pytest.raises(shopml.InvalidInputError, match="search"):
        shopml.Assistant(clf, store=object())


def test_bad_messages_get_replies(clf):
    bot = shopml.Assistant(clf, store=Shop())
    for text in ["", "   ", "x" * 100_000, "🙂🙂", "¿dónde está mi pedido?", "a\x00b\x07c", "\udcff bytes"]:
        r = bot.reply("c3", text)
        assert isinstance(r["text"], str) and r["text"]
    with pytest.raises(shopml.InvalidInputError, match="text"):
        bot.reply("c3", 42)
    with pytest.raises(shopml.InvalidInputError):
        bot.reply("c3", b"bytes are not text")
    with pytest.raises(shopml.InvalidInputError):
        clf.classify(None)


def test_config_dict_and_errors(clf):
    with pytest.raises(shopml.InvalidInputError, match="missing field"):
        shopml.Assistant(clf, store=Shop(), config={"replies": {}})
    with pytest.raises(FileNotFoundError):
        shopml.Assistant(clf, store=Shop(), config="/no/such/config.json")


def test_demo_assistant_on_shipped_data():
    bot = shopml.Assistant()  # shipped intent model + demo store from datasets/
    r = bot.reply("demo", "do you have a hart shaped t-light holder under 5 pounds?", customer_id="17850")
    assert r["intent"] == "search_product" and "HEART" in r["text"].upper()
