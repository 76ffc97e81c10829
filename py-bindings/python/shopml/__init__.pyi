from typing import Any, Optional, Sequence

from ._errors import (
    FileFormatError as FileFormatError,
    InvalidInputError as InvalidInputError,
    ModelClosedError as ModelClosedError,
    NotFittedError as NotFittedError,
    ShopmlError as ShopmlError,
    TrainingError as TrainingError,
    UnknownIdError as UnknownIdError,
)
from ._shopml import (
    Assistant as Assistant,
    Dataset as Dataset,
    Encoder as Encoder,
    EncoderIntentClassifier as EncoderIntentClassifier,
    IntentClassifier as IntentClassifier,
    Recommender as Recommender,
    __version__ as __version__,
    find_datasets as find_datasets,
)

def Popularity(*, count: Optional[str] = None) -> Recommender: ...
def ItemKNN(
    *, neighbours: Optional[int] = None, similarity: Optional[str] = None, shrink: Optional[float] = None,
    k1: Optional[float] = None, b: Optional[float] = None,
) -> Recommender: ...
def ALS(
    *, factors: Optional[int] = None, iterations: Optional[int] = None, regularization: Optional[float] = None,
    alpha: Optional[float] = None, cg_steps: Optional[int] = None, seed: Optional[int] = None,
) -> Recommender: ...
def BPR(
    *, factors: Optional[int] = None, epochs: Optional[int] = None, learning_rate: Optional[float] = None,
    regularization: Optional[float] = None, blocks: Optional[int] = None, seed: Optional[int] = None,
) -> Recommender: ...
def GMF(
    *, factors: Optional[int] = None, epochs: Optional[int] = None, batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None, negatives: Optional[int] = None, seed: Optional[int] = None,
) -> Recommender: ...
def MLP(
    *, tower: Optional[Sequence[int]] = None, epochs: Optional[int] = None, batch_size: Optional[int] = None,
    learning_rate: Optional[float] = None, negatives: Optional[int] = None, seed: Optional[int] = None,
) -> Recommender: ...
def NeuMF(
    *, factors: Optional[int] = None, tower: Optional[Sequence[int]] = None, epochs: Optional[int] = None,
    batch_size: Optional[int] = None, learning_rate: Optional[float] = None, negatives: Optional[int] = None,
    pretrain: Optional[bool] = None, seed: Optional[int] = None,
) -> Recommender: ...
def Content(
    *, text: Optional[bool] = None, attributes: Optional[bool] = None, category: Optional[bool] = None,
    max_df: Optional[float] = None,
) -> Recommender: ...
def Hybrid(*, cf: Optional[str] = None, weight: Optional[float] = None, **params: Any) -> Recommender: ...
def Transition(
    *, window: Optional[int] = None, gap_decay: Optional[float] = None, backward: Optional[float] = None,
    smoothing: Optional[float] = None, history: Optional[int] = None, recency: Optional[float] = None,
    neighbours: Optional[int] = None, similarity: Optional[str] = None, shrink: Optional[float] = None,
) -> Recommender: ...
def SKNN(
    *, neighbours: Optional[int] = None, history: Optional[int] = None, recency: Optional[float] = None,
    decay: Optional[float] = None, before: Optional[float] = None, idf: Optional[bool] = None,
) -> Recommender: ...
def SASRec(
    *, hidden: Optional[int] = None, layers: Optional[int] = None, heads: Optional[int] = None,
    max_len: Optional[int] = None, dropout: Optional[float] = None, epochs: Optional[int] = None,
    batch_size: Optional[int] = None, learning_rate: Optional[float] = None, weight_decay: Optional[float] = None,
    patience: Optional[int] = None, seed: Optional[int] = None,
) -> Recommender: ...
