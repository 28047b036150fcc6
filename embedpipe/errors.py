"""The errors embedpipe raises for bad input, bad settings or a wrong order of stages.

Each message says what was found and what to change. The CLI prints them as
one line (``embedpipe: error: ...``) instead of a traceback; anything else
that escapes is a bug.
"""

from __future__ import annotations

__all__ = [
    "USER_ERRORS",
    "AnnDependencyError",
    "ConfigError",
    "DeltaNotConfiguredError",
    "DivergenceError",
    "EmptyVocabularyError",
    "InputError",
    "ModelTooLargeError",
    "PlotDependencyError",
    "StaleTableError",
    "TableError",
    "UnknownWordError",
    "VectorFileError",
]


class ConfigError(ValueError):
    """A config file or override is invalid; the message says what to change."""


class InputError(ValueError):
    """The configured input cannot be read; the message names it and the fix."""


class EmptyVocabularyError(ValueError):
    """No word reaches min_count."""


class TableError(ValueError):
    """A table is missing or does not have the schema embedpipe expects."""


class StaleTableError(TableError):
    """A table of ids was built from a vocabulary that has since been rebuilt."""


class ModelTooLargeError(MemoryError):
    """The model would not fit the configured memory budget."""


class DivergenceError(RuntimeError):
    """Training produced non-finite parameters, or its loss ran away."""


class UnknownWordError(ValueError):
    """A query word is not in the vocabulary (or not in the restricted vocabulary)."""

    def __init__(self, word: str, message: str) -> None:
        super().__init__(message)
        self.word = word


class VectorFileError(ValueError):
    """A word-vector file (word2vec, GloVe, fastText) is malformed; the message names the line and the fix."""


class PlotDependencyError(ImportError):
    """matplotlib is not installed."""


class AnnDependencyError(ImportError):
    """faiss, which approximate nearest-neighbour indexes need, is not installed."""


class DeltaNotConfiguredError(ValueError):
    """The submitted session has no Delta Lake: its jar and settings come from spark-submit."""


#: What the CLI reports as one line. A RuntimeError among them (divergence) exits 1, the rest 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    InputError,
    TableError,
    EmptyVocabularyError,
    DivergenceError,
    ModelTooLargeError,
    UnknownWordError,
    VectorFileError,
    PlotDependencyError,
    DeltaNotConfiguredError,
)
