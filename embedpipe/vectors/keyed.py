"""Trained word vectors as one Python object, like gensim's ``KeyedVectors``.

:class:`Vectors` loads from a ``vectors`` table (through delta-rs, without a
JVM) or from word2vec text or binary, GloVe text and fastText ``.vec`` files,
and answers queries, evaluates and saves on the driver::

    from embedpipe import Vectors

    v = Vectors.from_table("out/vectors", model="sgns")
    v.most_similar("king", topn=5)
    v.most_similar(positive=["king", "woman"], negative=["man"], method="3cosmul")
    v.evaluate()                     # WordSim-353, SimLex-999, Google analogies
    v.save("sgns.bin", "word2vec-binary")

This module imports neither pyspark nor the evaluate stage at import time.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embedpipe import FORMAT_VERSION
from embedpipe.errors import TableError
from embedpipe.kernels.similarity import normalize_rows
from embedpipe.kernels.topk import exact_neighbors
from embedpipe.vectors import formats
from embedpipe.vectors.queries import Method, lower_index, rank, resolve_restrict, unknown_word_error

if TYPE_CHECKING:
    import pandas as pd

    from embedpipe.vectors.ann import AnnIndex
    from embedpipe.vectors.ivf import InvertedFileIndex

__all__ = ["Vectors"]

PathLike = str | os.PathLike[str]


@dataclass(eq=False)
class Vectors:
    """A model's vectors in frequency order (row k is ``words[k]``).

    Words are looked up exactly first, then lower-cased (the first, most
    frequent, case variant answers), as the evaluation matches them. An
    unknown word raises :class:`~embedpipe.errors.UnknownWordError` with a
    "did you mean" hint.

    A subset (``read_vectors(..., top=, words=)``) keeps that order: its rows
    are the table rows ``ids``, ascending, so the first ``top`` rows are the
    ``top`` most frequent words and word lookups pick the same row as on
    the whole table.
    """

    model: str
    run_id: str
    words: list[str]
    counts: np.ndarray
    matrix: np.ndarray  # float32 (rows, dim)
    metadata: dict[str, Any]
    ids: np.ndarray | None = None  # the rows' ids in the table; None: all of them, 0..V-1
    # Built on first query; stale if `words` or `matrix` are changed in place afterwards.
    _unit: np.ndarray | None = field(default=None, init=False, repr=False)
    _exact: dict[str, int] | None = field(default=None, init=False, repr=False)
    _lower: dict[str, int] | None = field(default=None, init=False, repr=False)
    _index: AnnIndex | InvertedFileIndex | None = field(default=None, init=False, repr=False)
    _word_array: np.ndarray | None = field(default=None, init=False, repr=False)  # `words` as numpy objects

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"Vectors(model={self.model!r}, run_id={self.run_id!r}, words={len(self.words)}, dim={self.dim})"

    # ---- construction -------------------------------------------------

    @classmethod
    def from_arrays(
        cls, words: Sequence[str], matrix: np.ndarray, *, counts: Sequence[int] | None = None, model: str = "vectors"
    ) -> Vectors:
        """Vectors from a word list (most frequent first) and its ``(len(words), dim)`` matrix."""
        mat = np.asarray(matrix, dtype=np.float32)
        if mat.ndim != 2 or mat.shape[0] != len(words):
            raise ValueError(
                f"matrix must be (len(words), dim) = ({len(words)}, dim), got shape {mat.shape}; "
                "row k of matrix must be the vector of words[k]"
            )
        cnt = np.zeros(len(words), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        meta = {"dim": int(mat.shape[1]), "vocab_size": len(words)}
        return cls(model=model, run_id="", words=list(words), counts=cnt, matrix=mat, metadata=meta)

    @classmethod
    def load(cls, path: PathLike, format: str = "word2vec", *, encoding: str = "utf-8") -> Vectors:  # noqa: A002
        """Read a word2vec text or binary, GloVe text or fastText ``.vec`` file.

        Parameters
        ----------
        path : str or os.PathLike
            A local file.
        format : {"word2vec", "word2vec-binary", "glove", "fasttext"}, default "word2vec"
            ``"fasttext"`` is word2vec text (``.vec`` files); ``"glove"`` has no header line.
        encoding : str, default "utf-8"

        Returns
        -------
        Vectors
            ``model`` is the file's name without its suffix; counts are 0 (the
            formats carry none) and rows keep the file's order.

        Raises
        ------
        VectorFileError
            The file is malformed; the message names the line and the fix.
        """
        words, matrix = formats.read_vector_file(path, format, encoding=encoding)
        v = cls.from_arrays(words, matrix, model=Path(path).stem)
        v.metadata.update(source=str(path), format=formats.format_name(format))
        return v

    @classmethod
    def from_table(
        cls,
        path: str,
        model: str = "sgns",
        run_id: str | None = None,
        *,
        storage_options: dict[str, str] | None = None,
    ) -> Vectors:
        """Read one model of a ``vectors`` table with delta-rs (no Spark, no JVM).

        Parameters
        ----------
        path : str
            The table (``<output.path>/vectors``) or the run's ``output.path``;
            a local path or a URI delta-rs reads (``s3://``, ``abfss://``, ``gs://``).
        model : str, default "sgns"
        run_id : str, optional
            A run of ``model`` recorded in the table's history; default: the
            current one. Earlier runs are read at their commit's version.
        storage_options : dict, optional
            Credentials and settings for cloud storage, passed to delta-rs.

        Raises
        ------
        TableError
            No table at ``path``, no such model or run, or vectors that do not
            match their commit metadata.
        """
        from deltalake import DeltaTable  # imported here: only this loader needs it
        from deltalake.exceptions import TableNotFoundError

        uri, dt = None, None
        for candidate in (path, path.rstrip("/") + "/vectors"):
            try:
                uri, dt = candidate, DeltaTable(candidate, storage_options=storage_options)
                break
            except TableNotFoundError:
                continue
        if dt is None:
            raise TableError(f"no Delta table at {path} nor at {path}/vectors; run the glove or sgns stage first")
        commits = sorted(
            ((int(h["version"]), _parse_metadata(h.get("userMetadata"))) for h in dt.history()), reverse=True
        )
        ours = [(ver, meta) for ver, meta in commits if meta.get("model") == model]
        if run_id is not None:
            mine = [(ver, meta) for ver, meta in ours if meta.get("run_id") == run_id]
            if not mine:
                runs = list(dict.fromkeys(meta.get("run_id") for _, meta in ours))
                raise TableError(
                    f"no run {run_id!r} of model {model!r} in the history of {uri}; runs present: {runs or 'none'}"
                )
            dt.load_as_version(mine[0][0])
        t = _scan(dt, ["run_id", "word", "id", "vector", "count"], model)
        if t.num_rows == 0:
            present = sorted(set(_scan(dt, ["model"]).column("model").to_pylist()))
            raise TableError(
                f"no vectors for model {model!r} in {uri}; models present: {present or 'none'} "
                f"(run the {model} stage first)"
            )
        current = t.column("run_id")[0].as_py()
        version, meta = next(((ver, m) for ver, m in ours if m.get("run_id") == current), (None, {}))
        if meta:
            meta = {**meta, "table_version": version}
        return vectors_from_rows(t, model, meta)

    # ---- lookups ------------------------------------------------------

    def row(self, word: str) -> int:
        """The row of ``word``: exact match first, then lower-cased (most frequent variant)."""
        i = self._find(word)
        if i is None:
            raise unknown_word_error(word, self.words, f"the vocabulary ({len(self.words)} words)")
        return i

    def _rows(self, words: Sequence[str]) -> np.ndarray:
        """:meth:`row` of each word; the exact matches looked up in one pass."""
        exact = list(map(self._lookups()[0].get, words))
        return np.array([self.row(w) if i is None else i for w, i in zip(words, exact, strict=True)], dtype=np.int64)

    def _lookups(self) -> tuple[dict[str, int], dict[str, int]]:
        """Row of each word, exactly and lower-cased (first, most frequent, variant), built once."""
        if self._exact is None or self._lower is None:
            self._exact = {}
            for row, w in enumerate(self.words):
                self._exact.setdefault(w, row)
            self._lower = lower_index(self.words)
        return self._exact, self._lower

    def _find(self, word: str) -> int | None:
        exact, lower = self._lookups()
        found = exact.get(word)
        return lower.get(word.lower()) if found is None else found

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._find(word) is not None

    def __getitem__(self, word: str | Sequence[str]) -> np.ndarray:
        """The vector of ``word`` (a view), or a ``(n, dim)`` array for a list of words."""
        if isinstance(word, str):
            return self.matrix[self.row(word)]
        return self.matrix[[self.row(w) for w in word]]

    def unit(self) -> np.ndarray:
        """The unit-length rows (float32), computed once."""
        if self._unit is None:
            self._unit = normalize_rows(self.matrix)
        return self._unit

    def normalized(self) -> Vectors:
        """A copy whose vectors have unit length (zero vectors stay zero); it has no index yet."""
        return replace(self, matrix=self.unit().copy(), metadata={**self.metadata, "normalized": True})

    # ---- queries ------------------------------------------------------

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit()
        return float(unit[self.row(w1)].astype(np.float64) @ unit[self.row(w2)])

    def most_similar(
        self,
        positive: str | np.ndarray | Sequence[str | np.ndarray] = (),
        negative: str | np.ndarray | Sequence[str | np.ndarray] = (),
        topn: int = 10,
        restrict_vocab: int | None = None,
        method: Method = "3cosadd",
        *,
        exact: bool | None = None,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words closest to ``positive`` minus ``negative``.

        Gives gensim's ``KeyedVectors.most_similar`` (``method="3cosadd"``) and
        ``most_similar_cosmul`` (``"3cosmul"``, with its epsilon 1e-6).

        Parameters
        ----------
        positive, negative : str, numpy.ndarray or a list of them
            Words (or vectors) that pull towards / push away from the answer.
        topn : int, default 10
        restrict_vocab : int, optional
            Only the ``restrict_vocab`` most frequent words are candidate answers.
        method : {"3cosadd", "3cosmul"}, default "3cosadd"
        exact : bool, optional
            ``False``: search the approximate index (:meth:`build_index`,
            built with its defaults if there is none yet). ``True``: brute
            force. Default: the index when one was built, else brute force.
            3CosMul and ``restrict_vocab`` are always brute force.

        Returns
        -------
        list of (str, float)
            ``(word, score)``, best first; the query words are never returned.
            The score is the cosine (3CosAdd) or the 3CosMul score.

        Raises
        ------
        UnknownWordError
            A query word is not in the vocabulary; the message suggests a near one.
        ValueError
            ``exact=False`` with 3CosMul or ``restrict_vocab``.
        """
        pos, neg = _as_list(positive), _as_list(negative)
        rows = [self.row(w) for w in (*pos, *neg) if isinstance(w, str)]
        unit = self.unit()

        def vec(q: str | np.ndarray) -> np.ndarray:
            return unit[self.row(q)] if isinstance(q, str) else np.asarray(q)

        if exact is False and (method != "3cosadd" or restrict_vocab is not None):
            raise ValueError(
                "the approximate index answers 3CosAdd over the whole vocabulary only; "
                "drop exact=False for method='3cosmul' or restrict_vocab"
            )
        if self._use_index(exact) and method == "3cosadd" and restrict_vocab is None:
            if not pos and not neg:
                raise ValueError("give at least one positive word (3CosMul needs one; 3CosAdd needs any word)")
            # The query of `rank`'s 3CosAdd: the sum of the unit positive vectors minus the unit negative ones.
            given = normalize_rows(np.asarray([vec(q) for q in (*pos, *neg)], dtype=np.float64).reshape(-1, self.dim))
            query = given[: len(pos)].sum(axis=0, dtype=np.float64) - given[len(pos) :].sum(axis=0, dtype=np.float64)
            ids, sims = self.build_index().search(query[None], topn, exclude=[rows])
            return [(self.words[j], float(s)) for j, s in zip(ids[0].tolist(), sims[0].tolist(), strict=True) if j >= 0]
        rv = resolve_restrict(restrict_vocab, len(self.words))
        idx, scores = rank(unit[:rv], [vec(q) for q in pos], [vec(q) for q in neg], topn, exclude=rows, method=method)
        return [(self.words[j], float(s)) for j, s in zip(idx.tolist(), scores.tolist(), strict=True)]

    def neighbors(
        self, words: Sequence[str], topn: int = 10, *, exact: bool | None = None
    ) -> list[list[tuple[str, float]]]:
        """The ``topn`` nearest words of each of ``words`` by cosine, in one batch.

        Parameters
        ----------
        words : sequence of str
        topn : int, default 10
        exact : bool, optional
            As for :meth:`most_similar`: ``False`` searches the approximate
            index, ``True`` scores every word (blocks of queries times the
            whole matrix); default the index when one was built.

        Returns
        -------
        list of list of (str, float)
            Per word, ``(neighbour, cosine)`` best first, the word itself excluded:
            what ``most_similar(word, topn=topn)`` answers.

        Raises
        ------
        UnknownWordError
            A word is not in the vocabulary.
        """
        rows, ids, sims = self._search(words, topn, exact)
        # Whole arrays at once: on 10,000 words a pair-by-pair loop cost more than the index's search.
        with _collector_paused():
            named = self._words_as_array()[np.where(ids >= 0, ids, 0)]
            if (ids >= 0).all():  # one run of pairs, cut into rows
                pairs = list(zip(named.ravel().tolist(), sims.astype(np.float64).ravel().tolist(), strict=True))
                return [pairs[i : i + topn] for i in range(0, len(pairs), topn)]
            return [
                [(x, y) for x, y, j in zip(w, s, r, strict=True) if j >= 0]
                for w, s, r in zip(named.tolist(), sims.astype(np.float64).tolist(), ids.tolist(), strict=True)
            ]

    def neighbors_frame(
        self, words: Sequence[str] | None = None, topn: int = 10, *, exact: bool | None = None
    ) -> pd.DataFrame:
        """:meth:`neighbors` as one pandas DataFrame with the ``neighbors`` table's columns.

        Parameters
        ----------
        words : sequence of str, optional
            The query words; default every word, in row order (what the
            neighbors stage writes, here on the driver).
        topn : int, default 10
        exact : bool, optional
            As for :meth:`neighbors`.

        Returns
        -------
        pandas.DataFrame
            One row per (word, neighbour), words in the order given, each
            word's neighbours best first: ``word`` (the vocabulary's spelling),
            ``id``, ``rank`` (1 = the nearest), ``neighbor``, ``neighbor_id``
            and ``similarity`` (the cosine, float32). The ``neighbors``
            table's columns but ``model`` and ``run_id``; ids are the
            table's ids, also for a subset. Made from arrays, with no Python
            object per pair: a batch that needs many answers gets them
            without the cost of :meth:`neighbors`' lists.

        Raises
        ------
        UnknownWordError
            A word is not in the vocabulary.
        """
        import pandas as pd

        rows, ids, sims = self._search(range(len(self.words)) if words is None else words, topn, exact)
        found = (ids >= 0).ravel()
        query = np.repeat(rows, ids.shape[1])[found]
        hit = ids.ravel()[found]
        table_id = np.arange(len(self.words)) if self.ids is None else self.ids
        word_array = self._words_as_array()
        return pd.DataFrame(
            {
                "word": word_array[query],
                "id": table_id[query].astype(np.int32),
                "rank": np.tile(np.arange(1, ids.shape[1] + 1, dtype=np.int32), len(rows))[found],
                "neighbor": word_array[hit],
                "neighbor_id": table_id[hit].astype(np.int32),
                "similarity": sims.ravel()[found].astype(np.float32),
            },
            copy=False,
        )

    def _search(
        self, words: Sequence[str] | range, topn: int, exact: bool | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows of ``words``, their ``topn`` neighbours' rows, cosines); rows -1 where fewer words exist.

        ``words`` may be a range of rows (every word's neighbours), which needs no lookup.
        """
        if isinstance(words, str):
            raise TypeError("give a list of words; for one word use most_similar(word)")
        if topn < 1:
            raise ValueError(f"topn must be >= 1, got {topn}")
        rows = np.asarray(words, dtype=np.int64) if isinstance(words, range) else self._rows(words)
        if self._use_index(exact):
            ids, sims = self.build_index().search_rows(rows, topn)
        else:
            ids, sims = exact_neighbors(self.unit(), rows, topn)
        return rows, ids, sims

    def _words_as_array(self) -> np.ndarray:
        """``words`` as a numpy object array, built once."""
        if self._word_array is None:
            self._word_array = np.asarray(self.words, dtype=object)
        return self._word_array

    # ---- the approximate index ----------------------------------------

    def build_index(
        self,
        *,
        kind: Literal["hnsw", "ivf"] | None = None,
        connectivity: int | None = None,
        ef_construction: int | None = None,
        ef_search: int | None = None,
        lists: int | None = None,
        probes: int | None = None,
        target_recall: float = 0.96,
        threads: int | None = None,
        rebuild: bool = False,
    ) -> AnnIndex | InvertedFileIndex:
        """Build (once) an approximate nearest-neighbour index of the unit vectors.

        Once built, ``most_similar`` and ``neighbors`` search it unless told
        ``exact=True``; the cosines they return are still exact, only the
        choice of the top words is approximate. Brute force needs no index
        and stays the default until one is built: below a few hundred
        thousand words it answers one query in milliseconds.

        Parameters
        ----------
        kind : {"hnsw", "ivf"}, optional
            Default: the kind of the index already built, else ``hnsw``; an
            index of another kind is replaced. ``hnsw``: a faiss HNSW graph
            (:class:`embedpipe.vectors.ann.AnnIndex`; needs ``pip install
            'embedpipe[ann]'``). ``ivf``: an inverted file
            (:class:`embedpipe.vectors.ivf.InvertedFileIndex`; no extra),
            the faster of the two for batches of words at the same recall,
            the slower for single query vectors (bench/results/2026-12-06-ann-ivf-index/).
        connectivity, ef_construction, ef_search
            The graph's settings (``hnsw`` only; defaults 24, 400 and
            measured), see :meth:`embedpipe.vectors.ann.AnnIndex.build`.
        lists, probes
            The inverted file's settings (``ivf`` only), see
            :meth:`embedpipe.vectors.ivf.InvertedFileIndex.build`.
        target_recall, threads
            By default the build measures the search breadth (``ef_search``
            or ``probes``) that reaches recall@10 of 0.96 on a sample of
            1,000 words (``index.calibration`` reports it).
        rebuild : bool, default False
            Build again even if an index exists (e.g. with other settings or another kind).

        Returns
        -------
        AnnIndex or InvertedFileIndex
            Also kept on this object; its breadth (``ef_search`` or ``probes``) may be changed afterwards.

        Raises
        ------
        AnnDependencyError
            ``hnsw`` and faiss is not installed; the message names the install command.
        ValueError
            An unknown kind, or a setting of the other kind.
        """
        if kind not in (None, "hnsw", "ivf"):
            raise ValueError(f"kind must be 'hnsw' or 'ivf', got {kind!r}")
        wanted = kind or (self._index.kind if self._index is not None else "hnsw")
        graph = {k: v for k, v in (("connectivity", connectivity), ("ef_construction", ef_construction),
                                   ("ef_search", ef_search)) if v is not None}  # fmt: skip
        lists_and_probes = {k: v for k, v in (("lists", lists), ("probes", probes)) if v is not None}
        if wanted == "ivf" and graph:
            raise ValueError(f"{', '.join(graph)} set an hnsw graph; an ivf index takes lists and probes")
        if wanted == "hnsw" and lists_and_probes:
            raise ValueError(f"{', '.join(lists_and_probes)} set an ivf index: build_index(kind='ivf', ...)")
        if self._index is None or rebuild or wanted != self._index.kind:
            if wanted == "ivf":
                from embedpipe.vectors.ivf import InvertedFileIndex

                self._index = InvertedFileIndex.build(
                    self.unit(), **lists_and_probes, target_recall=target_recall, threads=threads
                )
            else:
                from embedpipe.vectors.ann import AnnIndex

                self._index = AnnIndex.build(self.unit(), **graph, target_recall=target_recall, threads=threads)
        return self._index

    @property
    def index(self) -> AnnIndex | InvertedFileIndex | None:
        """The approximate index, once :meth:`build_index` has built it."""
        return self._index

    def _use_index(self, exact: bool | None) -> bool:
        return exact is False or (exact is None and self._index is not None)

    def doesnt_match(self, words: Iterable[str]) -> str:
        """The word furthest from the mean of the given words' unit vectors (gensim's rule)."""
        given = list(words)
        if len(given) < 2:
            raise ValueError(f"doesnt_match needs at least two words, got {given}")
        unit = self.unit()[[self.row(w) for w in given]].astype(np.float64)
        mean = unit.mean(axis=0)
        return given[int(np.argmin(unit @ (mean / (np.linalg.norm(mean) or 1.0))))]

    # ---- evaluation and export ---------------------------------------

    def evaluate(
        self,
        pairs: Iterable[Any] = (),
        analogies: Iterable[Any] = (),
        *,
        builtin: bool = True,
        restrict_vocab: int | None = 30000,
    ) -> dict[str, dict[str, float | int]]:
        """Score the vectors on the shipped sets and on the user's own.

        Parameters
        ----------
        pairs : iterable of path or PairSet, optional
            Word-pair similarity files (``word1 word2 score`` lines), added to
            the shipped WordSim-353 and SimLex-999. A set is named after its file.
        analogies : iterable of path or AnalogySet, optional
            Analogy files in the Google ``questions-words.txt`` format.
        builtin : bool, default True
            Include the shipped sets; ``False`` scores only the given ones.
        restrict_vocab : int or None, default 30000
            Analogies use only the most frequent words (as gensim and word2vec do).

        Returns
        -------
        dict
            ``{set_name: metrics}``, see :func:`embedpipe.evaluate.scoring.score_vectors`.
        """
        from embedpipe.evaluate import evalsets, scoring

        pair_sets = [p if isinstance(p, evalsets.PairSet) else evalsets.load_pair_set(p, Path(p).stem) for p in pairs]
        analogy_sets = [
            a if isinstance(a, evalsets.AnalogySet) else evalsets.load_analogy_set(a, Path(a).stem) for a in analogies
        ]
        if builtin:
            shipped_pairs, shipped_analogies = evalsets.builtin_sets()
            pair_sets, analogy_sets = shipped_pairs + pair_sets, shipped_analogies + analogy_sets
        return scoring.score_vectors(
            self.words, self.matrix, restrict_vocab=restrict_vocab, pair_sets=pair_sets, analogy_sets=analogy_sets
        )

    def save(self, path: PathLike, format: str = "word2vec") -> None:  # noqa: A002
        """Write a word2vec text (``"word2vec"``, also ``"fasttext"``), ``"word2vec-binary"`` or ``"glove"`` file."""
        formats.write_vector_file(path, format, self.words, self.matrix)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector held off while a batch answer is built.

    A batch of 10,000 words is 110,000 new lists and tuples. Making them
    starts the collector every few hundred objects, and now and then a pass
    over every live object of the session. With 300,000 lists alive that
    took twice as long as building the answer (63 ms against 19 ms), and the
    answer holds no cycles to collect.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _as_list(q: str | np.ndarray | Sequence[str | np.ndarray] | None) -> list[str | np.ndarray]:
    if q is None:
        return []
    if isinstance(q, str | np.ndarray):
        return [q]
    return list(q)


def _scan(dt: Any, columns: list[str], model: str | None = None) -> Any:
    """The table's ``columns`` (of ``model``'s rows) as a pyarrow Table.

    A local table that needs no reader feature (reader version 1: no deletion
    vectors, no column mapping) is read file by file with ``pyarrow.parquet``:
    importing ``pyarrow.dataset`` imports pandas, about a second of a fresh
    process's query. Otherwise the scan is delta-rs's pyarrow dataset, in this
    thread: a threaded scan can leave a worker thread that aborts the process
    at exit ("terminate called without an active exception", exit 134) with
    pyarrow 26 and deltalake 1.6.
    """
    partition_columns = dt.metadata().partition_columns
    if dt.protocol().min_reader_version == 1 and "model" not in columns and partition_columns == ["model"]:
        # A partition value is exact per file, so pruning on it selects exactly the model's files.
        files = dt.file_uris(file_pruning_predicate=None if model is None else [("model", "=", model)])
        if files and all(_is_local(f) for f in files):
            return _read_local_files(files, columns)
    import pyarrow.dataset as ds

    where = None if model is None else ds.field("model") == model
    return dt.to_pyarrow_dataset().to_table(columns=columns, filter=where, use_threads=False)


def _is_local(uri: str) -> bool:
    return uri.startswith("/") or uri.startswith("file:")


def _read_local_files(files: list[str], columns: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # ParquetFile, not read_table: read_table goes through pyarrow.dataset.
    parts = [pq.ParquetFile(f.removeprefix("file://").removeprefix("file:")).read(columns=columns) for f in files]
    return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]


def _numpy(column: Any) -> np.ndarray:
    """A primitive Arrow column without nulls as numpy, read from its buffer:
    pyarrow's ``to_numpy`` imports pandas, about a second of a fresh query."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    import pyarrow.types as pat

    dtype = np.dtype(f"{'f' if pat.is_floating(arr.type) else 'i'}{arr.type.bit_width // 8}")
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + len(arr))[arr.offset :]


def _parse_metadata(raw: str | None) -> dict[str, Any]:
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def vectors_from_rows(t: Any, model: str, meta: dict[str, Any], *, subset: bool = False) -> Vectors:
    """A :class:`Vectors` from a ``vectors`` table's rows of one model (a pyarrow Table, in any order).

    Checks that the rows are one run, that their ids are ``0..V-1`` (or distinct
    for a ``subset``), and that they match the commit ``meta`` (format version,
    dim, vocabulary size). Rows are put in id order in numpy: Arrow's
    ``sort_by`` gathers the list column row by row (most of a second for 68k
    vectors, in a query that should take about one).
    """
    model_runs = set(t.column("run_id").to_pylist())
    if len(model_runs) != 1:
        raise TableError(f"vectors of {model!r} mix runs {sorted(model_runs)}; re-run the {model} stage")
    run_id = model_runs.pop()
    vec = t.column("vector").combine_chunks()
    dim = len(vec[0].values) if t.num_rows else 0
    matrix = _numpy(vec.flatten()).astype(np.float32).reshape(t.num_rows, dim)
    ids = _numpy(t.column("id"))
    words = t.column("word").to_pylist()
    counts = np.array(_numpy(t.column("count")))  # writable, as Vectors.from_arrays gives
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, matrix, counts = ids[order], matrix[order], counts[order]
        words = [words[i] for i in order]
    if subset:
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            raise TableError(f"vectors of {model!r} repeat ids; re-run the {model} stage")
    elif not np.array_equal(ids, np.arange(t.num_rows)):
        raise TableError(f"vectors of {model!r} have ids that are not 0..{t.num_rows - 1}")
    if meta:
        if meta.get("format_version") != FORMAT_VERSION:
            raise TableError(
                f"vectors of {model!r} have format version {meta.get('format_version')}, "
                f"this embedpipe reads {FORMAT_VERSION}; re-run the {model} stage"
            )
        size_differs = (ids[-1] >= meta.get("vocab_size", 0)) if subset else meta.get("vocab_size") != t.num_rows
        if meta.get("dim") != dim or size_differs:
            raise TableError(
                f"vectors of {model!r} do not match their metadata (dim {dim} vs {meta.get('dim')}, "
                f"{t.num_rows} words vs {meta.get('vocab_size')}); re-run the {model} stage"
            )
    return Vectors(
        model=model,
        run_id=run_id,
        words=words,
        counts=counts,
        matrix=matrix,
        metadata=meta,
        ids=ids.astype(np.int64) if subset else None,
    )
