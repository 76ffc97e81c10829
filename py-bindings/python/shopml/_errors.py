"""shopml's exception hierarchy (raised by the native module).

Every error shopml raises on purpose is a ``ShopmlError``; the subclasses also derive from the builtin a
notebook would catch (``ValueError`` for bad input, ``KeyError`` for unknown ids, ...). File-system
problems are the builtin ``OSError`` family (``FileNotFoundError`` ...), with the path.
"""


class ShopmlError(Exception):
    """Base class of every shopml error."""


class InvalidInputError(ShopmlError, ValueError):
    """A bad argument or bad data: wrong dtype, negative id, mismatched lengths, NaN, k < 1, ..."""


class UnknownIdError(InvalidInputError, KeyError):
    """An item (or user) id the model does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FileFormatError(ShopmlError):
    """A model or data file that is truncated, corrupted, of another kind or from a newer version."""


class NotFittedError(ShopmlError, RuntimeError):
    """The model has not been fitted (or loaded) yet."""


class ModelClosedError(NotFittedError):
    """The model was closed with ``close()`` (or left a ``with`` block)."""


class TrainingError(ShopmlError, RuntimeError):
    """Training failed (diverged to NaN/inf, or the tensor backend failed)."""


__all__ = [
    "ShopmlError",
    "InvalidInputError",
    "UnknownIdError",
    "FileFormatError",
    "NotFittedError",
    "ModelClosedError",
    "TrainingError",
]
