"""Vectors' batch neighbours and approximate index against brute force (numpy and faiss, no Spark)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from embedpipe import Vectors
from embedpipe.errors import AnnDependencyError, UnknownWordError

N, DIM, CLUSTERS = 3000, 24, 300  # 300 planted groups of 10 words: each word's 9 neighbours are its group


@pytest.fixture(scope="module")
def planted() -> Vectors:
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(CLUSTERS, DIM))
    members = np.repeat(np.arange(CLUSTERS), N // CLUSTERS)
    rng.shuffle(members)
    matrix = centres[members] + 0.15 * rng.normal(size=(N, DIM))
    v = Vectors.from_arrays([f"w{i}" for i in range(N)], matrix.astype(np.float32))
    v.metadata["groups"] = members
    return v


def _ids(v: Vectors, hits: list[list[tuple[str, float]]]) -> list[list[int]]:
    return [[v.row(w) for w, _ in h] for h in hits]


def test_exact_batch_is_most_similar_word_by_word(planted: Vectors) -> None:
    words = [f"w{i}" for i in range(0, N, 97)]
    batch = planted.neighbors(words, 10, exact=True)
    for word, hits in zip(words, batch, strict=True):
        one = planted.most_similar(word, topn=10)
        assert [w for w, _ in hits] == [w for w, _ in one]
        assert np.allclose([s for _, s in hits], [s for _, s in one], atol=1e-6)
        assert word not in [w for w, _ in hits]


def test_a_vocabulary_smaller_than_topn_answers_every_other_word_both_ways() -> None:
    pytest.importorskip("faiss")
    v = Vectors.from_arrays(["a", "b", "c", "d"], np.eye(4, 3, dtype=np.float32) + 0.1)
    exact = v.neighbors(["a", "d"], 10, exact=True)
    approx = v.neighbors(["a", "d"], 10, exact=False)
    assert [sorted(w for w, _ in hits) for hits in exact] == [["b", "c", "d"], ["a", "b", "c"]]
    assert [[w for w, _ in hits] for hits in approx] == [[w for w, _ in hits] for hits in exact]
    assert np.allclose([s for hits in approx for _, s in hits], [s for hits in exact for _, s in hits], atol=1e-6)


def test_the_index_finds_the_planted_neighbours_as_brute_force_does(planted: Vectors) -> None:
    pytest.importorskip("faiss")
    v = Vectors.from_arrays(planted.words, planted.matrix)  # a fresh object: no index yet
    words = v.words[::7]
    exact = _ids(v, v.neighbors(words, 10, exact=True))
    v.build_index()
    approx_hits = v.neighbors(words, 10)  # an index was built: it answers by default
    approx = _ids(v, approx_hits)
    overlap = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert overlap >= 0.95
    groups = planted.metadata["groups"]
    found = np.mean([np.mean(groups[a[:9]] == groups[v.row(w)]) for w, a in zip(words, approx, strict=True)])
    assert found >= 0.95  # the planted group is each word's top 9
    for w, hits in zip(words, approx_hits, strict=True):  # exact cosines, best first, never the word itself
        assert w not in [x for x, _ in hits]
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True)
        assert np.allclose(sims, [v.similarity(w, x) for x, _ in hits], atol=1e-6)


def test_most_similar_through_the_index_and_its_limits(planted: Vectors) -> None:
    pytest.importorskip("faiss")
    v = Vectors.from_arrays(planted.words, planted.matrix)
    assert v.index is None
    exact = v.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5)
    approx = v.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5, exact=False)  # builds the index
    assert v.index is not None and len(v.index) == N
    assert [w for w, _ in approx] == [w for w, _ in exact]
    assert np.allclose([s for _, s in approx], [s for _, s in exact], atol=1e-6)
    with pytest.raises(ValueError, match="3CosAdd over the whole vocabulary only"):
        v.most_similar("w1", exact=False, method="3cosmul")
    with pytest.raises(ValueError, match="3CosAdd over the whole vocabulary only"):
        v.most_similar("w1", exact=False, restrict_vocab=100)
    assert len(v.most_similar("w1", restrict_vocab=100)) == 10  # brute force, index or not
    with pytest.raises(UnknownWordError, match="did you mean 'w17'"):
        v.neighbors(["w17", "w17x"], exact=False)
    with pytest.raises(TypeError, match="a list of words"):
        v.neighbors("w17")


def test_a_tiny_vocabulary_gives_every_other_word(planted: Vectors) -> None:
    pytest.importorskip("faiss")
    v = Vectors.from_arrays(["a", "b", "c"], planted.matrix[:3])
    assert [len(h) for h in v.neighbors(["a", "b"], 5, exact=True)] == [2, 2]
    v.build_index()
    assert {w for w, _ in v.neighbors(["a"], 5)[0]} == {"b", "c"}


def test_without_faiss_the_error_names_the_install_command(planted: Vectors, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # as if it were not installed
    v = Vectors.from_arrays(planted.words[:50], planted.matrix[:50])
    with pytest.raises(AnnDependencyError, match=r"pip install 'embedpipe\[ann\]'"):
        v.build_index()
    with pytest.raises(AnnDependencyError, match=r"pip install 'embedpipe\[ann\]'"):
        v.neighbors(["w1"], exact=False)
    assert len(v.neighbors(["w1"], 3)) == 1  # brute force needs no faiss


def test_the_build_measures_the_search_breadth_that_reaches_the_target_recall() -> None:
    pytest.importorskip("faiss")
    from embedpipe.kernels.topk import exact_neighbors
    from embedpipe.vectors.ann import EF_LADDER, AnnIndex, recall_at_k

    # Unclustered Gaussian rows and a sparse graph: the hard case, where a narrow search misses true neighbours.
    unit = np.random.default_rng(5).normal(size=(4000, 32)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    loose = AnnIndex.build(unit, connectivity=8, ef_construction=40, target_recall=0.80)
    strict = AnnIndex.build(unit, connectivity=8, ef_construction=40, target_recall=0.98)
    for index, target in ((loose, 0.80), (strict, 0.98)):
        assert index.calibration is not None and index.calibration["reached"]
        assert index.calibration["ef_search"] == index.ef_search in EF_LADDER
        assert index.calibration["sample_recall@10"] >= target
    assert strict.ef_search > loose.ef_search
    # The sample's recall holds for words the build never sampled (its sample: 1,000 words drawn with seed 0).
    sample = np.sort(np.random.default_rng(0).choice(4000, size=1000, replace=False))
    held_out = np.setdiff1d(np.arange(4000), sample)
    exact, _ = exact_neighbors(unit, held_out, 10)
    for index, target in ((loose, 0.80), (strict, 0.98)):
        found, _ = index.search_rows(held_out, 10)
        assert recall_at_k(exact, found) >= target - 0.02
    # A narrower search than the calibrated one would have missed the target on the sample.
    narrower = EF_LADDER[EF_LADDER.index(strict.ef_search) - 1]
    given = AnnIndex.build(unit, connectivity=8, ef_construction=40, ef_search=narrower)
    assert given.calibration is None and given.ef_search == narrower
    exact, _ = exact_neighbors(unit, sample, 10)
    assert recall_at_k(exact, given.search_rows(sample, 10)[0]) < 0.98
    with pytest.raises(ValueError, match="target_recall must be in"):
        AnnIndex.build(unit, target_recall=1.5)


def test_a_graph_too_sparse_for_the_target_says_so(caplog) -> None:
    pytest.importorskip("faiss")
    from embedpipe.vectors.ann import EF_LADDER, AnnIndex

    unit = np.random.default_rng(5).normal(size=(4000, 32)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    with caplog.at_level("WARNING", logger="embedpipe.vectors.ann"):
        index = AnnIndex.build(unit, connectivity=2, ef_construction=4, target_recall=0.999)
    assert index.calibration is not None and not index.calibration["reached"]
    assert index.ef_search == EF_LADDER[-1] and index.calibration["sample_recall@10"] < 0.999
    assert "larger connectivity" in caplog.text


def test_a_words_own_search_starts_at_its_node_and_answers_as_a_vector_query(planted: Vectors) -> None:
    pytest.importorskip("faiss")
    from embedpipe.kernels.topk import exact_neighbors

    index = Vectors.from_arrays(planted.words, planted.matrix).build_index(ef_search=128)
    rows = np.arange(0, N, 13)
    ids, sims = index.search_rows(rows, 10)
    by_vector, vector_sims = index.search(index.unit[rows], 10, exclude=[[r] for r in rows.tolist()])
    exact_ids, exact_sims = exact_neighbors(index.unit, rows, 10)
    assert (ids == exact_ids).all() and (by_vector == exact_ids).all()  # a broad search is exact here
    assert np.allclose(sims, exact_sims, atol=1e-6) and np.allclose(vector_sims, exact_sims, atol=1e-6)
    assert not (ids == rows[:, None]).any()
    with pytest.raises(ValueError, match="rows must lie in"):
        index.search_rows(np.array([N]), 10)


def test_the_graph_stores_similar_words_side_by_side_and_answers_in_the_callers_rows(planted: Vectors, capfd) -> None:
    pytest.importorskip("faiss")
    from embedpipe.vectors.ann import ROWS_PER_CLUSTER, locality_order

    groups = planted.metadata["groups"]
    order = locality_order(planted.unit())
    assert np.array_equal(np.sort(order), np.arange(N))  # every row once
    assert "WARNING" not in capfd.readouterr().err  # faiss's k-means says nothing on the way

    def spread(positions: np.ndarray) -> float:
        """Mean distance in storage between the first and last word of a planted group."""
        return float(np.mean([np.ptp(positions[groups == g]) for g in range(CLUSTERS)]))

    position = np.empty(N, dtype=np.int64)
    position[order] = np.arange(N)
    assert spread(np.arange(N)) > N / 2  # in the vocabulary's order a group is scattered over the whole matrix
    assert spread(position) < 2 * ROWS_PER_CLUSTER  # stored by cluster, its words lie within a cluster's span
    assert np.array_equal(locality_order(planted.unit()[: ROWS_PER_CLUSTER + 1]), np.arange(ROWS_PER_CLUSTER + 1))

    index = Vectors.from_arrays(planted.words, planted.matrix).build_index(ef_search=128)
    assert np.array_equal(index.storage_order, order)  # seed 0 both times
    rows = np.random.default_rng(3).permutation(N)[:400]  # neither the vocabulary's order nor the storage's
    ids, sims = index.search_rows(rows, 10)
    one_by_one = [index.search_rows(np.array([r]), 10) for r in rows[:20]]
    assert all((ids[i] == got[0][0]).all() and np.allclose(sims[i], got[1][0]) for i, got in enumerate(one_by_one))
    assert (groups[ids[:, :9]] == groups[rows][:, None]).mean() > 0.99  # rows, not the graph's own ids


def test_the_frame_is_the_batch_answer_in_the_neighbors_tables_columns(planted: Vectors) -> None:
    from embedpipe import tables

    v = Vectors.from_arrays(planted.words, planted.matrix)  # its own index, not the shared fixture's
    words = ["w42", "w7", "w42", "W1999"]  # repeats and case variants answer like most_similar
    for exact in (True, False):
        if not exact:
            pytest.importorskip("faiss")
        frame = v.neighbors_frame(words, 5, exact=exact)
        assert list(frame.columns) == [f.name for f in tables.NEIGHBORS.fields if f.name not in ("model", "run_id")]
        assert [str(t) for t in frame.dtypes] == ["object", "int32", "int32", "object", "int32", "float32"]
        lists = v.neighbors(words, 5, exact=exact)
        assert frame["word"].tolist() == [w.lower() for w in words for _ in range(5)]
        assert frame["rank"].tolist() == [1, 2, 3, 4, 5] * len(words)
        assert frame["neighbor"].tolist() == [n for hits in lists for n, _ in hits]
        assert np.allclose(frame["similarity"], [s for hits in lists for _, s in hits], atol=1e-6)
        assert (frame["id"] == [v.row(w) for w in frame["word"]]).all()
        assert (frame["neighbor_id"] == [v.row(n) for n in frame["neighbor"]]).all()

    every = v.neighbors_frame(topn=3, exact=True)  # no words: every word, in row order
    assert len(every) == 3 * N and (every["id"].to_numpy() == np.repeat(np.arange(N), 3)).all()
    assert every.iloc[3 * 17 : 3 * 18]["neighbor"].tolist() == [w for w, _ in v.most_similar("w17", topn=3, exact=True)]

    # A subset's rows are table rows `ids`: the frame speaks the table's ids, as the neighbors stage writes them.
    subset = Vectors(planted.model, "", planted.words[:50], planted.counts[:50], planted.matrix[:50], {},
                     ids=np.arange(50) * 3)  # fmt: skip
    sub = subset.neighbors_frame(["w4"], 2, exact=True)
    assert sub["id"].tolist() == [12, 12] and (sub["neighbor_id"] % 3 == 0).all()
    assert sub["neighbor_id"].tolist() == [3 * subset.row(n) for n in sub["neighbor"]]

    tiny = Vectors.from_arrays(["a", "b", "c"], planted.matrix[:3])  # fewer words than topn: no empty rows
    assert sorted(tiny.neighbors_frame(["a"], 5, exact=True)["neighbor"]) == ["b", "c"]
    with pytest.raises(TypeError, match="a list of words"):
        v.neighbors_frame("w17")


def test_the_inverted_file_finds_the_planted_neighbours_and_needs_no_faiss(planted: Vectors, monkeypatch) -> None:
    from embedpipe.vectors.ivf import PROBE_LADDER

    monkeypatch.setitem(sys.modules, "faiss", None)  # as if it were not installed
    v = Vectors.from_arrays(planted.words, planted.matrix)
    words = v.words[::7]
    exact = _ids(v, v.neighbors(words, 10, exact=True))
    index = v.build_index(kind="ivf")
    assert v.index is index and index.kind == "ivf" and len(index) == N
    assert index.lists == round(16 * np.sqrt(N))  # 16 lists per square root of the words by default
    assert index.calibration is not None and index.calibration["reached"]
    assert index.probes == index.calibration["probes"] and (index.probes in PROBE_LADDER or index.probes == index.lists)
    approx_hits = v.neighbors(words, 10)  # the index answers by default
    approx = _ids(v, approx_hits)
    assert np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)]) >= 0.95
    for w, hits in zip(words, approx_hits, strict=True):  # exact cosines, best first, never the word itself
        assert w not in [x for x, _ in hits]
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True)
        assert np.allclose(sims, [v.similarity(w, x) for x, _ in hits], atol=1e-6)
    analogy = v.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5)  # through the index
    assert [w for w, _ in analogy] == [w for w, _ in v.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5,
                                                                    exact=True)]  # fmt: skip


def test_the_inverted_file_measures_its_probes_and_every_list_probed_is_brute_force(planted: Vectors) -> None:
    from embedpipe.kernels.topk import exact_neighbors
    from embedpipe.vectors.ann import recall_at_k
    from embedpipe.vectors.ivf import InvertedFileIndex

    unit = planted.unit()
    loose = InvertedFileIndex.build(unit, lists=100, target_recall=0.70)
    strict = InvertedFileIndex.build(unit, lists=100, target_recall=0.99)
    assert strict.probes > loose.probes
    rows = np.arange(0, N, 5)
    exact_ids, exact_sims = exact_neighbors(unit, rows, 10)
    assert recall_at_k(exact_ids, strict.search_rows(rows, 10)[0]) >= 0.98
    assert recall_at_k(exact_ids, loose.search_rows(rows, 10)[0]) >= 0.65
    given = InvertedFileIndex.build(unit, lists=100, probes=100)
    assert given.calibration is None and given.probes == 100
    ids, sims = given.search_rows(rows, 10)
    by_vector, vector_sims = given.search(unit[rows] * 3.0, 10, exclude=[[r] for r in rows.tolist()])
    assert (ids == exact_ids).all() and (by_vector == exact_ids).all()  # every list: brute force's answer
    assert np.allclose(sims, exact_sims, atol=1e-6) and np.allclose(vector_sims, exact_sims, atol=1e-6)
    given.probes = 3  # narrowed after the build: the words' kept probes serve
    assert recall_at_k(exact_ids, given.search_rows(rows, 10)[0]) < 1.0
    given.probes = 200  # widened past the lists: every list
    assert (given.search_rows(rows, 10)[0] == exact_ids).all()
    with pytest.raises(ValueError, match="rows must lie in"):
        given.search_rows(np.array([N]), 10)
    with pytest.raises(ValueError, match="lists must be at most the 3000 words"):
        InvertedFileIndex.build(unit, lists=N + 1)
    with pytest.raises(ValueError, match="target_recall"):
        InvertedFileIndex.build(unit, target_recall=0.0)


def test_build_index_takes_the_settings_of_its_kind_and_a_new_kind_replaces_the_index(planted: Vectors) -> None:
    pytest.importorskip("faiss")
    v = Vectors.from_arrays(planted.words[:500], planted.matrix[:500])
    with pytest.raises(ValueError, match="kind must be 'hnsw' or 'ivf'"):
        v.build_index(kind="lsh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ef_search set an hnsw graph; an ivf index takes lists and probes"):
        v.build_index(kind="ivf", ef_search=32)
    with pytest.raises(ValueError, match=r"probes set an ivf index: build_index\(kind='ivf', ...\)"):
        v.build_index(probes=4)
    assert v.build_index().kind == "hnsw"  # the default kind
    ivf = v.build_index(kind="ivf", probes=2)
    assert ivf.kind == "ivf" and v.index is ivf and ivf.probes == 2
    assert v.build_index() is ivf  # no kind asked: the index built stays
    again = v.build_index(rebuild=True, probes=3)  # and a rebuild keeps its kind
    assert again is not ivf and again.kind == "ivf" and again.probes == 3
    with pytest.raises(ValueError, match="connectivity set an hnsw graph"):
        v.build_index(connectivity=8)  # the index built is an inverted file
    assert v.build_index(kind="hnsw").kind == "hnsw"
    tiny = Vectors.from_arrays(["a", "b", "c"], planted.matrix[:3])
    tiny.build_index(kind="ivf")
    assert {w for w, _ in tiny.neighbors(["a"], 5)[0]} == {"b", "c"}


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_query_vectors_are_searched_as_broadly_as_analogy_vectors_need(planted: Vectors, kind: str) -> None:
    if kind == "hnsw":
        pytest.importorskip("faiss")
    from embedpipe.vectors.ann import analogy_sample, recall_at_k

    v = Vectors.from_arrays(planted.words, planted.matrix)
    index = v.build_index(kind=kind)
    breadth = "ef_search" if kind == "hnsw" else "probes"
    measured = index.calibration["vectors"]
    assert measured["sample_recall@10"] >= 0.96 and measured[breadth] == getattr(index, f"{breadth}_vectors")
    # Vectors between words need a broader search than the words themselves, here as on wiki17m.
    assert getattr(index, f"{breadth}_vectors") > getattr(index, breadth)
    q, exclude, exact = analogy_sample(index.unit, 500, 10, seed=99)  # queries the build did not measure on
    assert recall_at_k(exact, index.search(q, 10, exclude=exclude)[0]) >= 0.95
    for i in range(5):  # the sample's answers are brute force's, the three words left out
        scores = index.unit @ q[i]
        scores[exclude[i]] = -np.inf
        assert exact[i].tolist() == np.lexsort((np.arange(N), -scores))[:10].tolist()
    given = v.build_index(kind=kind, rebuild=True, **{breadth: 7})  # a breadth given serves both searches
    assert given.calibration is None and getattr(given, f"{breadth}_vectors") is None
    three = Vectors.from_arrays(["a", "b", "c"], planted.matrix[:3]).build_index(kind=kind)
    assert three.calibration["vectors"]["sample_recall@10"] == 1.0  # an analogy of the only words has nothing to find
    assert recall_at_k(np.full((2, 3), -1), np.zeros((2, 3))) == 1.0


def test_an_inverted_file_short_of_its_target_keeps_the_widest_probes_and_says_so(planted: Vectors, monkeypatch,
                                                                                  caplog) -> None:  # fmt: skip
    from embedpipe.vectors import ivf

    exact = ivf.InvertedFileIndex.build(planted.unit(), lists=40, target_recall=1.0)
    # Within the ladder's reach, the build goes as far as every list (brute force) if it must: here for vectors.
    assert exact.calibration["reached"] and exact.calibration["vectors"]["sample_recall@10"] == 1.0
    assert exact.probes_vectors == 40 and exact.probes <= 40
    monkeypatch.setattr(ivf, "PROBE_LADDER", (1, 2))  # a ladder that stops short of the lists
    with caplog.at_level("WARNING"):
        short = ivf.InvertedFileIndex.build(planted.unit(), lists=40, target_recall=1.0)
    assert short.probes == 2 and short.probes_vectors == 2 and not short.calibration["reached"]
    assert short._word_probes is not None and short._word_probes.shape == (N, 2)  # never lists x words ids
    assert "short of target_recall 1.000: build it with fewer lists" in caplog.text
