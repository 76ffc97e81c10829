"""Type stubs of shopml's native module."""

from os import PathLike
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Id = Union[int, str]
Ids = Union[Sequence[int], Sequence[str], npt.NDArray[Any]]
StrPath = Union[str, PathLike[str]]

__version__: str

def find_datasets(given: Optional[StrPath] = None) -> Path: ...

class Dataset:
    @staticmethod
    def from_arrays(
        users: Ids,
        items: Ids,
        weights: Optional[npt.ArrayLike] = None,
        timestamps: Optional[npt.ArrayLike] = None,
        kinds: Optional[Sequence[str]] = None,
        kind_weights: Union[Mapping[str, float], str, None] = None,
    ) -> Dataset: ...
    @staticmethod
    def from_csr(matrix: Any) -> Dataset: ...
    @staticmethod
    def from_frame(
        frame: Any,
        user: str = "user",
        item: str = "item",
        weight: Optional[str] = None,
        time: Optional[str] = None,
        kind: Optional[str] = None,
        kind_weights: Union[Mapping[str, float], str, None] = None,
    ) -> Dataset: ...
    @staticmethod
    def load(path: StrPath, format: str = "online-retail") -> Dataset: ...
    def with_items(
        self,
        items: Ids,
        categories: Optional[Sequence[Optional[str]]] = None,
        prices: Optional[npt.ArrayLike] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
    ) -> Dataset: ...
    def leave_one_out(self) -> Tuple[Dataset, npt.NDArray[Any], npt.NDArray[Any]]: ...
    def to_arrays(self) -> Tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[np.float32], npt.NDArray[np.int64]]: ...
    @property
    def kind_weights(self) -> dict[str, float]: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    def __len__(self) -> int: ...

class Recommender:
    def __init__(self, model: str = "als", **params: Any) -> None: ...
    def fit(
        self, data: Any, show_progress: Union[bool, Callable[[int, int], Any], None] = None
    ) -> Recommender: ...
    def recommend(
        self,
        user: Union[Id, Ids],
        k: Optional[int] = None,
        *,
        filter_already_seen: bool = True,
        categories: Union[str, Sequence[str], None] = None,
        exclude: Optional[Ids] = None,
        out_of_stock: Optional[Ids] = None,
        min_price: Optional[float] = None,
        max_price: Optional[float] = None,
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.float32]]: ...
    def recommend_items(
        self,
        items: Ids,
        k: Optional[int] = None,
        *,
        filter_already_seen: bool = True,
        categories: Union[str, Sequence[str], None] = None,
        exclude: Optional[Ids] = None,
        out_of_stock: Optional[Ids] = None,
        min_price: Optional[float] = None,
        max_price: Optional[float] = None,
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.float32]]: ...
    def recommend_next(
        self,
        history: Ids,
        k: Optional[int] = None,
        *,
        filter_already_seen: bool = True,
        categories: Union[str, Sequence[str], None] = None,
        exclude: Optional[Ids] = None,
        out_of_stock: Optional[Ids] = None,
        min_price: Optional[float] = None,
        max_price: Optional[float] = None,
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.float32]]: ...
    def record_event(self, user: Id, item: Id) -> None: ...
    def live_events(self, user: Id) -> npt.NDArray[Any]: ...
    def forget(self, user: Id) -> None: ...
    def similar_items(self, item: Id, k: Optional[int] = None) -> Tuple[npt.NDArray[Any], npt.NDArray[np.float32]]: ...
    def explain(self, user: Id, k: Optional[int] = None) -> list[Optional[str]]: ...
    def evaluate(
        self,
        data: Dataset,
        protocol: str = "loo-full",
        k: Optional[int] = None,
        seed: int = 42,
        split: str = "test",
        cold_fraction: float = 0.1,
    ) -> dict[str, Any]: ...
    def build_index(
        self, m: Optional[int] = None, ef_construction: Optional[int] = None, ef_search: Optional[int] = None
    ) -> None: ...
    def save(self, path: StrPath) -> None: ...
    @staticmethod
    def load(path: StrPath) -> Recommender: ...
    def close(self) -> None: ...
    def __enter__(self) -> Recommender: ...
    def __exit__(self, *exc: Any) -> bool: ...
    @property
    def model(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def is_fitted(self) -> bool: ...
    @property
    def user_ids(self) -> npt.NDArray[Any]: ...
    @property
    def item_ids(self) -> npt.NDArray[Any]: ...

class IntentClassifier:
    @staticmethod
    def train(
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        val_texts: Optional[Sequence[str]] = None,
        val_labels: Optional[Sequence[str]] = None,
        oos_recall: float = 0.7,
        dim: Optional[int] = None,
        epochs: Optional[int] = None,
        ensemble: Optional[int] = None,
        seed: Optional[int] = None,
        learning_rate: Optional[float] = None,
    ) -> IntentClassifier: ...
    @staticmethod
    def shipped(datasets: Optional[StrPath] = None) -> IntentClassifier: ...
    def classify(self, text: str) -> Tuple[str, float, bool]: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def threshold(self) -> float: ...
    def save(self, path: StrPath) -> None: ...
    @staticmethod
    def load(path: StrPath) -> IntentClassifier: ...

class Encoder:
    def __init__(self, path: Optional[StrPath] = None) -> None: ...
    def embed(self, texts: Sequence[str]) -> Any: ...  # numpy.ndarray[float32], (len(texts), dim)
    @property
    def dim(self) -> int: ...
    @property
    def path(self) -> str: ...

class EncoderIntentClassifier:
    @staticmethod
    def train(
        encoder: Encoder,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        val_texts: Optional[Sequence[str]] = None,
        val_labels: Optional[Sequence[str]] = None,
        oos_recall: float = 0.7,
        tune_layers: int = 0,
        epochs: int = 3,
        seed: int = 7,
    ) -> EncoderIntentClassifier: ...
    def classify(self, text: str) -> Tuple[str, float, bool]: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def threshold(self) -> float: ...
    def save(self, path: StrPath) -> None: ...
    @staticmethod
    def load(path: StrPath, encoder: Encoder) -> EncoderIntentClassifier: ...

class Assistant:
    def __init__(
        self,
        classifier: Optional[IntentClassifier] = None,
        store: Any = None,
        config: Union[dict[str, Any], StrPath, None] = None,
        datasets: Optional[StrPath] = None,
    ) -> None: ...
    def reply(self, conversation_id: Any, text: str, customer_id: Optional[Id] = None) -> dict[str, Any]: ...
    @property
    def conversations(self) -> int: ...
