"""Word-similarity and word-analogy evaluation sets.

Two file formats are understood:

* **pair sets** (WordSim-353, SimLex-999, ...): optional ``#`` comment lines,
  then one ``word1<TAB>word2<TAB>score`` line per pair (lines without a TAB
  may use runs of spaces instead);
* **analogy sets** (Google ``questions-words.txt``): ``: section`` header lines,
  each followed by ``a b c d`` question lines (``a : b :: c : d``).

Blank lines are ignored everywhere.  All words are lower-cased.  Sections whose
name starts with ``gram`` are syntactic, every other section is semantic (for
the Google set: ``capital-common-countries``, ``capital-world``, ``currency``,
``city-in-state`` and ``family``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable

import numpy as np

__all__ = [
    "AnalogySet",
    "PairSet",
    "builtin_sets",
    "is_semantic_section",
    "load_analogy_set",
    "load_pair_set",
]

PathLike = str | os.PathLike[str] | Traversable

_BUILTIN_PAIRS = (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt"))
_BUILTIN_ANALOGIES = (("google_analogy", "questions-words.txt"),)


@dataclass
class PairSet:
    """Word pairs with human similarity scores.

    Attributes
    ----------
    name : str
        Set name; used as the key of its result in ``score_vectors``.
    word1, word2 : list of str
        Lower-cased words of each pair.
    score : numpy.ndarray
        float64 human score per pair.
    """

    name: str
    word1: list[str]
    word2: list[str]
    score: np.ndarray

    def __post_init__(self) -> None:
        self.score = np.asarray(self.score, dtype=np.float64)
        if not (len(self.word1) == len(self.word2) == self.score.shape[0]):
            raise ValueError(
                f"pair set {self.name!r}: word1, word2 and score must have equal lengths, got "
                f"{len(self.word1)}, {len(self.word2)}, {self.score.shape[0]}"
            )

    def __len__(self) -> int:
        return len(self.word1)


@dataclass
class AnalogySet:
    """Analogy questions ``a : b :: c : d``.

    Attributes
    ----------
    name : str
        Set name; used as the key of its result in ``score_vectors``.
    sections : list of str
        Section name of *each question* (parallel to ``questions``).
    questions : list of tuple of str
        Lower-cased ``(a, b, c, d)`` per question.
    semantic : numpy.ndarray
        bool per question: True for semantic sections, False for syntactic
        (``gram*``) ones.
    """

    name: str
    sections: list[str]
    questions: list[tuple[str, str, str, str]]
    semantic: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        self.semantic = np.asarray(self.semantic, dtype=bool)
        if not (len(self.sections) == len(self.questions) == self.semantic.shape[0]):
            raise ValueError(
                f"analogy set {self.name!r}: sections, questions and semantic must have one entry "
                f"per question, got {len(self.sections)}, {len(self.questions)}, "
                f"{self.semantic.shape[0]}"
            )

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def section_names(self) -> list[str]:
        """Distinct section names in file order."""
        return list(dict.fromkeys(self.sections))


def is_semantic_section(section: str) -> bool:
    """True unless the section name starts with ``gram`` (Google-set convention)."""
    return not section.strip().lower().startswith("gram")


def _read_lines(path: PathLike) -> tuple[str, list[str]]:
    """Return a display name and the lines of a UTF-8 text file (or package resource)."""
    if isinstance(path, str | os.PathLike):
        label = os.fspath(path)
        try:
            with open(label, encoding="utf-8") as fh:
                return label, fh.read().splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{label}: not valid UTF-8 ({exc}); re-save the file as UTF-8"
            ) from exc
    label = str(path)
    try:
        return label, path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{label}: not valid UTF-8 ({exc}); re-save the file as UTF-8") from exc


def load_pair_set(path: PathLike, name: str) -> PairSet:
    """Load a word-pair similarity file.

    Parameters
    ----------
    path : str, os.PathLike or importlib Traversable
        File with ``#`` comments and ``word1<TAB>word2<TAB>score`` lines.
    name : str
        Name of the set.

    Returns
    -------
    PairSet

    Raises
    ------
    ValueError
        On a malformed line (message names the file and 1-based line number) or
        if the file contains no pairs.
    """
    label, lines = _read_lines(path)
    w1: list[str] = []
    w2: list[str] = []
    scores: list[float] = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")] if "\t" in line else line.split()
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ValueError(
                f"{label}, line {lineno}: expected 'word1<TAB>word2<TAB>score' "
                f"(3 fields), got {len(parts)} field(s): {raw!r}"
            )
        try:
            value = float(parts[2])
        except ValueError:
            raise ValueError(
                f"{label}, line {lineno}: score {parts[2]!r} is not a number; "
                "the third field must be the human similarity score"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"{label}, line {lineno}: score {parts[2]!r} is not finite")
        w1.append(parts[0].lower())
        w2.append(parts[1].lower())
        scores.append(value)
    if not scores:
        raise ValueError(
            f"{label}: no word pairs found; expected 'word1<TAB>word2<TAB>score' lines"
        )
    return PairSet(name=name, word1=w1, word2=w2, score=np.asarray(scores, dtype=np.float64))


def load_analogy_set(path: PathLike, name: str) -> AnalogySet:
    """Load an analogy file in the Google ``questions-words.txt`` format.

    Parameters
    ----------
    path : str, os.PathLike or importlib Traversable
        File of ``: section`` headers each followed by ``a b c d`` lines.
    name : str
        Name of the set.

    Returns
    -------
    AnalogySet
        Sections starting with ``gram`` are syntactic, all others semantic.

    Raises
    ------
    ValueError
        On a malformed line, a question before the first ``: section`` header
        (message names the file and 1-based line number), or an empty file.
    """
    label, lines = _read_lines(path)
    sections: list[str] = []
    questions: list[tuple[str, str, str, str]] = []
    semantic: list[bool] = []
    current: str | None = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(":"):
            current = line[1:].strip()
            if not current:
                raise ValueError(
                    f"{label}, line {lineno}: empty section header; write ': section-name'"
                )
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(
                f"{label}, line {lineno}: expected an analogy 'a b c d' (4 words), "
                f"got {len(parts)} word(s): {raw!r}"
            )
        if current is None:
            raise ValueError(
                f"{label}, line {lineno}: question before any ': section' header; "
                "start the file with a line like ': capital-common-countries'"
            )
        a, b, c, d = (p.lower() for p in parts)
        questions.append((a, b, c, d))
        sections.append(current)
        semantic.append(is_semantic_section(current))
    if not questions:
        raise ValueError(f"{label}: no analogy questions found; expected 'a b c d' lines")
    return AnalogySet(
        name=name,
        sections=sections,
        questions=questions,
        semantic=np.asarray(semantic, dtype=bool),
    )


def builtin_sets() -> tuple[list[PairSet], list[AnalogySet]]:
    """Load the evaluation sets shipped in ``embedpipe/data/eval``.

    Returns
    -------
    pairs : list of PairSet
        ``wordsim353`` and ``simlex999``.
    analogies : list of AnalogySet
        ``google_analogy`` (19,544 questions).
    """
    root = resources.files("embedpipe") / "data" / "eval"
    pairs = [load_pair_set(root / fname, name) for name, fname in _BUILTIN_PAIRS]
    analogies = [load_analogy_set(root / fname, name) for name, fname in _BUILTIN_ANALOGIES]
    return pairs, analogies
