"""shopml: embedded recommendations and customer-support chat for online shops.

Quickstart::

    import shopml
    data = shopml.Dataset.load("datasets/online-retail/online_retail.csv.gz")
    ids, scores = shopml.ALS().fit(data).recommend(17850, k=10)

    bot = shopml.Assistant()          # intent model + demo store from the shipped data
    bot.reply("c1", "where is my order?", customer_id="17850")["text"]

The engines are Rust (reco-core, chatbot-core); this package converts Python values to and from them.
"""

from ._errors import (
    FileFormatError,
    InvalidInputError,
    ModelClosedError,
    NotFittedError,
    ShopmlError,
    TrainingError,
    UnknownIdError,
)
from ._shopml import (Assistant, Dataset, Encoder, EncoderIntentClassifier, IntentClassifier, Recommender,
                      __version__, find_datasets)


def Popularity(*, count=None):
    """Most-interacted items first (``count``: ``"train"`` or ``"all"``). A baseline and the cold-start fallback."""
    return Recommender("pop", count=count)


def ItemKNN(*, neighbours=None, similarity=None, shrink=None, k1=None, b=None):
    """Item-based k nearest neighbours.

    neighbours: neighbours kept per item (default 100). similarity: ``"bm25"`` (default, k1 1.2, b 0.75),
    ``"cosine"`` or ``"tfidf"``. shrink: similarity shrinkage (0). k1, b: BM25 weights.
    """
    return Recommender("itemknn", neighbours=neighbours, similarity=similarity, shrink=shrink, k1=k1, b=b)


def ALS(*, factors=None, iterations=None, regularization=None, alpha=None, cg_steps=None, seed=None):
    """Implicit ALS (Hu, Koren & Volinsky 2008) with conjugate-gradient updates, as ``implicit``'s.

    Defaults (chosen on validation splits): factors 64, iterations 15, regularization 30, alpha 30
    (confidence = 1 + alpha · ln(1 + weight)), cg_steps 3 (conjugate-gradient steps per update), seed 42.
    """
    return Recommender(
        "als", factors=factors, iterations=iterations, regularization=regularization, alpha=alpha,
        cg_steps=cg_steps, seed=seed,
    )


def BPR(*, factors=None, epochs=None, learning_rate=None, regularization=None, blocks=None, seed=None):
    """Bayesian personalised ranking matrix factorisation (Rendle et al. 2009), parallel SGD."""
    return Recommender(
        "bpr", factors=factors, epochs=epochs, learning_rate=learning_rate, regularization=regularization,
        blocks=blocks, seed=seed,
    )


def _ncf(kind, factors, tower, epochs, batch_size, learning_rate, negatives, pretrain, seed):
    return Recommender(
        kind, factors=factors, tower=tower, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        negatives=negatives, pretrain=pretrain, seed=seed,
    )


def GMF(*, factors=None, epochs=None, batch_size=None, learning_rate=None, negatives=None, seed=None):
    """Generalised matrix factorisation (He et al. 2017), trained with candle on BCE with sampled negatives."""
    return _ncf("gmf", factors, None, epochs, batch_size, learning_rate, negatives, None, seed)


def MLP(*, tower=None, epochs=None, batch_size=None, learning_rate=None, negatives=None, seed=None):
    """NCF's MLP (tower e.g. ``[64, 32, 16, 8]``)."""
    return _ncf("mlp", None, tower, epochs, batch_size, learning_rate, negatives, None, seed)


def NeuMF(*, factors=None, tower=None, epochs=None, batch_size=None, learning_rate=None, negatives=None,
          pretrain=None, seed=None):
    """NeuMF: GMF and MLP fused; ``pretrain=True`` initialises it from trained GMF and MLP."""
    return _ncf("neumf", factors, tower, epochs, batch_size, learning_rate, negatives, pretrain, seed)


def Content(*, text=None, attributes=None, category=None, max_df=None):
    """Content-based ranking from item texts (BM25-weighted), attributes and categories; recommends new
    items that have text but no interactions."""
    return Recommender("content", text=text, attributes=attributes, category=category, max_df=max_df)


def Hybrid(*, cf=None, weight=None, **params):
    """A CF model (``cf``: ``"als"`` default, ``"bpr"``, ``"itemknn"``, ``"pop"``) blended with content scores;
    ``weight`` (content share) is tuned on the validation split when not given."""
    return Recommender("hybrid", cf=cf, weight=weight, **params)


def Transition(*, window=None, gap_decay=None, backward=None, smoothing=None, history=None, recency=None,
               neighbours=None, similarity=None, shrink=None):
    """Sequential: what follows what. Next-item transitions within ``window`` later items (weighted by
    ``gap_decay`` per step), smoothed towards item-kNN (``smoothing``), scored from the customer's last
    ``history`` items with ``recency`` decay. Beats every non-sequential model on Amazon Beauty in seconds."""
    return Recommender(
        "transition", window=window, gap_decay=gap_decay, backward=backward, smoothing=smoothing,
        history=history, recency=recency, neighbours=neighbours, similarity=similarity, shrink=shrink,
    )


def SKNN(*, neighbours=None, history=None, recency=None, decay=None, before=None, idf=None):
    """Sequential: sequence-kNN. Customers whose recent sequences resemble this one's vote for what they
    did next (``before``: weight of items they had before the shared ones)."""
    return Recommender(
        "sknn", neighbours=neighbours, history=history, recency=recency, decay=decay, before=before, idf=idf,
    )


def SASRec(*, hidden=None, layers=None, heads=None, max_len=None, dropout=None, epochs=None, batch_size=None,
           learning_rate=None, weight_decay=None, patience=None, seed=None):
    """Sequential: self-attentive transformer (Kang & McAuley 2018) trained with full-softmax cross-entropy at
    every position, in candle. Defaults: hidden 64, layers 2, heads 1, max_len 50, dropout 0.5, epochs 25,
    batch_size 256, learning_rate 0.002, seed 42 (Amazon Beauty: HR@10 ~0.10). Use ``recommend_next`` for a
    session's next items and ``record_event`` for live events."""
    return Recommender(
        "sasrec", hidden=hidden, layers=layers, heads=heads, max_len=max_len, dropout=dropout, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay, patience=patience,
        seed=seed,
    )


__all__ = [
    "Dataset", "Recommender", "IntentClassifier", "Encoder", "EncoderIntentClassifier", "Assistant",
    "find_datasets", "__version__",
    "Popularity", "ItemKNN", "ALS", "BPR", "GMF", "MLP", "NeuMF", "Content", "Hybrid", "Transition", "SKNN",
    "SASRec",
    "ShopmlError", "InvalidInputError", "UnknownIdError", "FileFormatError", "NotFittedError",
    "ModelClosedError", "TrainingError",
]
