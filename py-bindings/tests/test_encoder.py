"""shopml.Encoder and shopml.EncoderIntentClassifier over the real all-MiniLM-L6-v2 (scripts/fetch-minilm,
run by scripts/test; the tests fail loudly without it)."""
import numpy as np
import pytest

import shopml


@pytest.fixture(scope="module")
def encoder():
    return shopml.Encoder()


def test_embed_gives_unit_float32_rows_that_rank_paraphrases(encoder):
    v = encoder.embed(["where is my order?", "track my package", "the weather is lovely"])
    assert isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (3, encoder.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert encoder.embed([]).shape == (0, 384)


def test_embed_bad_input_and_a_missing_model_directory(encoder, tmp_path):
    with pytest.raises(shopml.InvalidInputError):
        encoder.embed("one string, not a list")
    with pytest.raises(shopml.InvalidInputError):
        encoder.embed(["ok", 3])
    with pytest.raises(FileNotFoundError, match="config.json"):
        shopml.Encoder(tmp_path)


def test_encoder_intent_classifier_trains_classifies_and_round_trips(encoder, tmp_path):
    texts = ["where is my order", "has my parcel shipped", "when will my order arrive",
             "i want my money back", "please refund me", "how do i get a refund",
             "hello", "hi there", "good morning"]
    labels = ["track"] * 3 + ["refund"] * 3 + ["greeting"] * 3
    val = ["where's my package", "refund my payment", "hey"]
    clf = shopml.EncoderIntentClassifier.train(encoder, texts, labels, val_texts=val,
                                               val_labels=["track", "refund", "greeting"], tune_layers=1, epochs=2)
    assert clf.labels == ["greeting", "refund", "track"]
    label, conf, _ = clf.classify("reimburse the payment")
    assert label == "refund" and 0 < conf <= 1
    path = tmp_path / "intent.model"
    clf.save(path)
    back = shopml.EncoderIntentClassifier.load(path, encoder)
    assert back.classify("reimburse the payment") == clf.classify("reimburse the payment")
    with pytest.raises(shopml.FileFormatError):
        shopml.IntentClassifier.load(path)  # an encoder model file is not a fast one
    with pytest.raises(shopml.InvalidInputError):
        clf.classify(42)
