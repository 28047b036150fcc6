"""Ingest, vocab and encode stages on real files and real Delta tables."""

from __future__ import annotations

import bz2
import gzip
import json
import random
from collections import Counter

import pyarrow as pa
import pytest
from chispa import assert_df_equality

from embedpipe import encode, tables, vocab
from embedpipe.batches import coalesce_batches
from embedpipe.config import CleanConfig, build_config
from embedpipe.errors import EmptyVocabularyError, InputError
from embedpipe.ingest import stage as ingest
from embedpipe.ingest import textfiles
from embedpipe.pipeline import run_pipeline

TEXT = """the quick brown fox jumps over the lazy dog
the dog barks and the fox runs
a fox is not a dog
"""


def make_cfg(tmp_path, path, **sections):
    raw = {
        "input": {"path": str(path), **sections.pop("input", {})},
        "output": {"path": str(tmp_path / "out")},
        "clean": {"preset": "text8", **sections.pop("clean", {})},
        "vocab": {"min_count": 1, **sections.pop("vocab", {})},
        "spark": {"partitions": 2},
        **sections,
    }
    return build_config(raw)


def brute_force_counts(text: str) -> Counter:
    return Counter(text.split())


def read_vocab(spark, cfg):
    return {r["word"]: (r["id"], r["count"]) for r in tables.read(spark, cfg.output.path, "vocab").collect()}


def decoded_pieces(spark, cfg):
    """The corpus table's pieces, as words again."""
    words = {r["id"]: r["word"] for r in tables.read(spark, cfg.output.path, "vocab").collect()}
    rows = tables.read(spark, cfg.output.path, "corpus").orderBy("line_id", "piece").collect()
    return [[words[i] for i in r["ids"]] for r in rows]


def piece_rows(spark, cfg):
    """The piece rows of the tokens table, in (line_id, piece) order."""
    tokens = tables.read(spark, cfg.output.path, "tokens")
    return tokens.where("text IS NOT NULL").orderBy("line_id", "piece").collect()


def test_a_task_folds_its_batch_counts_into_one_exact_count_per_word(monkeypatch):
    # Compaction every few rows must not change any count.
    monkeypatch.setattr(ingest, "COMPACT_ROWS", 3)
    lines = TEXT.splitlines() * 7
    task_words = ingest.TaskWords()
    for k in range(0, len(lines), 4):
        task_words.add(pa.array(" ".join(lines[k : k + 4]).split()))
    out = task_words.table()
    got = dict(zip(out.column("word").to_pylist(), out.column("count").to_pylist(), strict=True))
    assert got == brute_force_counts(TEXT * 7)
    assert out.num_rows == len(got)  # one row per word, not per batch


def test_the_tokens_table_holds_the_pieces_and_each_tasks_word_counts(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT * 3), input={"min_partitions": 3})
    ingest.run(spark, cfg)
    rows = tables.read(spark, cfg.output.path, "tokens").collect()
    pieces = [r for r in rows if r["word"] is None]
    words = [r for r in rows if r["word"] is not None]
    assert all(r["text"] and r["count"] is None for r in pieces)
    assert all(r["text"] is None and r["line_id"] is None and r["count"] > 0 for r in words)
    summed: Counter = Counter()
    for r in words:
        summed[r["word"]] += r["count"]
    assert summed == brute_force_counts(TEXT * 3) == Counter(t for r in pieces for t in r["text"].split(" "))


def test_the_word_filter_keeps_frequent_words_and_counts_every_word():
    acc = {"tokens_in": _Counter(), "distinct_words": _Counter()}
    batches = [
        pa.RecordBatch.from_pylist(rows, schema=vocab.KEPT_ARROW)
        for rows in ([{"word": "a", "count": 5}, {"word": "b", "count": 1}], [{"word": "c", "count": 2}])
    ]
    out = pa.Table.from_batches(list(vocab.make_word_filter(2, acc)(iter(batches))), schema=vocab.KEPT_ARROW)
    assert out.to_pylist() == [{"word": "a", "count": 5}, {"word": "c", "count": 2}]
    assert (acc["tokens_in"].value, acc["distinct_words"].value) == (8, 3)


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> None:
        self.value += n


class _Shared:
    def __init__(self, value) -> None:
        self.value = value


def test_batches_are_joined_in_order_until_each_holds_enough_text():
    texts = [f"w{k} x y" for k in range(50)]
    batches = [pa.RecordBatch.from_arrays([pa.array(texts[k : k + 3])], names=["text"]) for k in range(0, 50, 3)]
    empty = pa.RecordBatch.from_arrays([pa.array([], pa.string())], names=["text"])
    min_bytes = 3 * batches[0].nbytes
    joined = list(coalesce_batches(iter([empty, *batches, empty]), min_bytes))
    assert pa.Table.from_batches(joined).column("text").to_pylist() == texts
    assert 1 < len(joined) < len(batches)
    assert all(b.nbytes >= min_bytes for b in joined[:-1])
    assert all(b.num_rows > 0 for b in joined)
    assert list(coalesce_batches(iter([]), min_bytes)) == []
    assert list(coalesce_batches(iter([empty, empty]), min_bytes)) == []


@pytest.mark.parametrize("batch_bytes", [1, 200, 1 << 30])
def test_the_encoder_gives_the_same_rows_however_its_input_batches_are_joined(monkeypatch, batch_bytes):
    monkeypatch.setattr(encode, "ENCODE_BATCH_BYTES", batch_bytes)
    lines = TEXT.splitlines() * 5 + ["oov words only"]  # 16 lines, the last one empty once encoded
    batches = [
        pa.RecordBatch.from_arrays(
            [pa.array(range(k, k + 2), pa.int64()), pa.array([0, 0], pa.int32()), pa.array(lines[k : k + 2])],
            names=["line_id", "piece", "text"],
        )
        for k in range(0, len(lines), 2)
    ]
    words = ["the", "fox", "dog", "quick"]
    acc = {"pieces": _Counter(), "pieces_empty": _Counter(), "tokens_kept": _Counter()}
    encoder = encode.make_encoder(_Shared(pa.array(words)), acc)
    out = pa.Table.from_batches(list(encoder(iter(batches))), schema=encode.CORPUS_ARROW)
    kept = [(i, [words.index(w) for w in line.split() if w in words]) for i, line in enumerate(lines)]
    want = [(i, ids) for i, ids in kept if ids]
    assert list(zip(out.column("line_id").to_pylist(), out.column("ids").to_pylist(), strict=True)) == want
    assert acc["pieces"].value == len(want)
    assert acc["pieces_empty"].value == len(kept) - len(want)
    assert acc["tokens_kept"].value == sum(len(ids) for _, ids in want)


def test_rank_vocab_orders_by_count_then_word_and_caps_the_size():
    kept = pa.table({"word": ["b", "a", "c", "d"], "count": [5, 5, 9, 2]})
    ranked = vocab.rank_vocab(kept, max_size=3)
    assert ranked.column("word").to_pylist() == ["c", "a", "b"]
    assert ranked.column("id").to_pylist() == [0, 1, 2]
    assert ranked.schema.names == [f.name for f in tables.VOCAB.fields]
    noise = ranked.column("noise_prob").to_numpy()
    assert noise.sum() == pytest.approx(1.0)
    assert noise[0] == pytest.approx(9**0.75 / (9**0.75 + 2 * 5**0.75))


def test_vocab_counts_are_exact_and_ids_follow_descending_count_then_word(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT))
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    got = read_vocab(spark, cfg)
    want = brute_force_counts(TEXT)
    assert {w: c for w, (_, c) in got.items()} == dict(want)
    ranked = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [w for w, _ in ranked] == [w for w, _ in sorted(got.items(), key=lambda kv: kv[1][0])]
    assert sorted(i for i, _ in got.values()) == list(range(len(want)))


def test_noise_distribution_follows_word2vec(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT))
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    rows = tables.read(spark, cfg.output.path, "vocab").collect()
    z = sum(r["count"] ** 0.75 for r in rows)
    for r in rows:
        assert r["noise_prob"] == pytest.approx(r["count"] ** 0.75 / z)
    assert sum(r["noise_prob"] for r in rows) == pytest.approx(1.0)


def test_min_count_and_max_size_break_ties_by_word(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT), vocab={"min_count": 2, "max_size": 3})
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    got = read_vocab(spark, cfg)
    # counts: the 4, fox 3, dog 3, a 2 -> top 3 with fox/dog tied and ordered by word
    assert got == {"the": (0, 4), "dog": (1, 3), "fox": (2, 3)}


def test_corpus_is_the_token_stream_without_oov_words(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT), vocab={"min_count": 2})
    ingest.run(spark, cfg)
    vocab.run(spark, cfg)
    encode.run(spark, cfg)
    kept = {w for w, c in brute_force_counts(TEXT).items() if c >= 2}
    want = [[w for w in line.split() if w in kept] for line in TEXT.splitlines()]
    assert decoded_pieces(spark, cfg) == [p for p in want if p]


def test_long_lines_are_cut_into_pieces_of_max_sentence_length(spark, tmp_path, write_text):
    line = " ".join(["x", "y", "z", "w", "v"] * 5)  # 25 tokens on one line
    cfg = make_cfg(tmp_path, write_text("long.txt", line), input={"max_sentence_length": 10})
    ingest.run(spark, cfg)
    pieces = piece_rows(spark, cfg)
    assert [len(r["text"].split(" ")) for r in pieces] == [10, 10, 5]
    assert [r["piece"] for r in pieces] == [0, 1, 2]
    assert len({r["line_id"] for r in pieces}) == 1
    assert " ".join(r["text"] for r in pieces) == line


def test_compressed_files_folders_and_globs_are_read(spark, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt.gz").write_bytes(gzip.compress(b"alpha beta\n"))
    (folder / "b.txt.bz2").write_bytes(bz2.compress(b"beta gamma\n"))
    (folder / "c.txt").write_text("gamma delta\n")
    for path in (folder, folder / "*.txt*"):
        cfg = make_cfg(tmp_path, path)
        ingest.run(spark, cfg)
        vocab.run(spark, cfg)
        assert {w: c for w, (_, c) in read_vocab(spark, cfg).items()} == {
            "alpha": 1,
            "beta": 2,
            "gamma": 2,
            "delta": 1,
        }


@pytest.mark.parametrize("name", ["a.txt.gz", "b.txt"])
def test_reading_in_the_workers_gives_the_tokens_spark_reader_gives(spark, tmp_path, monkeypatch, name):
    # Lines longer than a block, in a gzip file both cores share or a plain
    # file without a final newline: the token stream (in line_id order) and
    # the counters are those of Spark's own text reader.
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "Delta!"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.choice([0, 3, 700]))) for _ in range(60)]
    data = "\n".join(lines).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    monkeypatch.setattr(textfiles, "BLOCK_BYTES", 1000)
    cfg = make_cfg(tmp_path, path, input={"max_sentence_length": 100}, clean={"preset": "none"})

    def stream_and_counts():
        result = ingest.run(spark, cfg)
        rows = piece_rows(spark, cfg)
        assert all(len(r["text"].split(" ")) <= 100 for r in rows)
        return [t for r in rows for t in r["text"].split(" ")], {k: result.stats[k] for k in ("lines_read", "tokens")}

    assert ingest.reads_files_in_workers(spark, cfg.input)
    in_workers = stream_and_counts()
    monkeypatch.setattr(ingest, "reads_files_in_workers", lambda *_: False)
    assert in_workers == stream_and_counts()
    assert in_workers[1] == {"lines_read": 60, "tokens": sum(len(line.split()) for line in lines)}


def test_missing_path_is_named(spark, tmp_path):
    missing = tmp_path / "nope" / "corpus.txt"
    with pytest.raises(InputError, match=r"nope/corpus\.txt.*does not exist"):
        ingest.run(spark, make_cfg(tmp_path, missing))
    with pytest.raises(InputError, match=r"matches no files"):
        ingest.run(spark, make_cfg(tmp_path, tmp_path / "*.nothing"))


def test_empty_corpus_fails_and_keeps_the_previous_table(spark, tmp_path, write_text):
    good = make_cfg(tmp_path, write_text("good.txt", TEXT))
    ingest.run(spark, good)
    before = tables.read(spark, good.output.path, "tokens")
    version = tables.current_version(spark, good.output.path, "tokens")
    empty = make_cfg(tmp_path, write_text("empty.txt", ""))
    with pytest.raises(InputError, match=r"produced no tokens"):
        ingest.run(spark, empty)
    assert tables.current_version(spark, good.output.path, "tokens") == version
    assert_df_equality(tables.read(spark, good.output.path, "tokens"), before, ignore_row_order=True)


def test_binary_files_are_skipped_counted_and_all_binary_input_fails(spark, tmp_path, write_text):
    write_text("docs/a.txt", "alpha beta\n")
    write_text("docs/image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    cfg = make_cfg(tmp_path, tmp_path / "docs")
    result = ingest.run(spark, cfg)
    assert result.stats["binary_files_skipped"] == 1
    assert result.stats["tokens"] == 2
    only_binary = write_text("bin/x.dat", b"\x00\x01\x02" * 100)
    with pytest.raises(InputError, match=r"binary"):
        ingest.run(spark, make_cfg(tmp_path, only_binary))


def test_a_truncated_or_mislabelled_gz_file_is_sniffed_as_not_text(tmp_path):
    text = ("alpha beta gamma delta " * 2000).encode()
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(gzip.compress(text)[:40])
    mislabelled = tmp_path / "plain.txt.gz"
    mislabelled.write_bytes(text)
    whole = tmp_path / "ok.txt.gz"
    whole.write_bytes(gzip.compress(text))
    assert ingest.read_head(str(truncated)) is None and ingest.looks_binary(str(truncated))
    assert ingest.read_head(str(mislabelled)) is None and ingest.looks_binary(str(mislabelled))
    assert ingest.read_head(str(whole)) == text[: ingest.SNIFF_BYTES]
    assert not ingest.looks_binary(str(whole))


def test_invalid_utf8_is_replaced_and_counted(spark, tmp_path, write_text):
    path = write_text("bad.txt", b"caf\xe9 ok\nfine words\n\xff\xfe broken\n")
    cfg = make_cfg(tmp_path, path, clean={"preset": "none"})
    result = ingest.run(spark, cfg)
    assert result.stats["invalid_utf8_lines"] == 2
    assert result.stats["lines_read"] == 3
    tokens = [t for r in piece_rows(spark, cfg) for t in r["text"].split(" ")]
    assert {"ok", "fine", "words", "broken"} <= set(tokens)


def test_empty_vocabulary_says_to_lower_min_count(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT), vocab={"min_count": 100})
    ingest.run(spark, cfg)
    with pytest.raises(EmptyVocabularyError, match=r"lower vocab\.min_count"):
        vocab.run(spark, cfg)


def test_parquet_delta_and_jsonl_inputs_read_the_named_column(spark, tmp_path, write_text):
    docs = [("d1", "alpha beta beta"), ("d2", "gamma beta")]
    df = spark.createDataFrame(docs, "doc string, body string")
    df.write.parquet(str(tmp_path / "pq"))
    df.write.format("delta").save(str(tmp_path / "dl"))
    jsonl = write_text("docs.jsonl", "\n".join(json.dumps({"doc": d, "body": b}) for d, b in docs) + "\n")
    for fmt, path in (("parquet", tmp_path / "pq"), ("delta", tmp_path / "dl"), ("jsonl", jsonl)):
        cfg = make_cfg(tmp_path, path, input={"format": fmt, "column": "body"})
        ingest.run(spark, cfg)
        vocab.run(spark, cfg)
        assert {w: c for w, (_, c) in read_vocab(spark, cfg).items()} == {"beta": 3, "alpha": 1, "gamma": 1}
    with pytest.raises(InputError, match=r"input\.column 'text' is not a column.*\['doc', 'body'\]"):
        ingest.run(spark, make_cfg(tmp_path, tmp_path / "pq", input={"format": "parquet"}))


def test_counters_are_stored_in_the_run_summary_and_token_totals_in_the_vocab_table(spark, tmp_path, write_text):
    cfg = make_cfg(
        tmp_path, write_text("c.txt", TEXT + "\n\n"), vocab={"min_count": 2}, stages=["ingest", "vocab", "encode"]
    )
    summary = run_pipeline(spark, cfg)
    saved = json.loads((tmp_path / "out" / "_runs" / f"{summary['run_id']}.json").read_text())
    stats = {s["stage"]: s["stats"] for s in saved["stages"]}
    assert stats["ingest"]["lines_read"] == 5
    assert stats["ingest"]["lines_empty"] == 2
    assert stats["ingest"]["tokens"] == len(TEXT.split())
    assert stats["ingest"]["pieces"] == 3
    n_oov = sum(c for c in brute_force_counts(TEXT).values() if c < 2)
    assert stats["vocab"]["tokens_oov"] == n_oov
    assert stats["vocab"]["tokens_kept"] == len(TEXT.split()) - n_oov
    # The encoder finds the same in-vocabulary tokens the counts promised.
    assert stats["encode"]["tokens_kept"] == stats["vocab"]["tokens_kept"]
    assert stats["encode"]["pieces"] == 3 and stats["encode"]["pieces_empty"] == 0
    meta = tables.latest_metadata(spark, cfg.output.path, "vocab")
    assert meta["stats"]["tokens_oov"] == n_oov
    assert meta["stats"]["tokens_in"] == len(TEXT.split())
    assert meta["config"]["vocab"]["min_count"] == 2
    vocab_version = tables.current_version(spark, cfg.output.path, "vocab")
    assert tables.latest_metadata(spark, cfg.output.path, "corpus")["vocab_version"] == vocab_version
    assert stats["encode"]["vocab_version"] == vocab_version
    # Every stage says how many Spark jobs it ran and how big the driver's Python grew.
    for stage in ("ingest", "vocab", "encode"):
        assert stats[stage]["spark_jobs"] >= 1
        assert stats[stage]["driver_peak_rss_mb"] > 0


def test_a_file_head_counts_as_evidence_of_tokens_only_up_to_its_last_whitespace():
    stop = CleanConfig(stopwords=True)
    # "th" may be the start of "the", a stopword: a cut head must not count it.
    assert not ingest.head_has_tokens(b"the an th", stop, whole_file=False)
    assert ingest.head_has_tokens(b"the an th", stop, whole_file=True)
    assert ingest.head_has_tokens(b"the an fox th", stop, whole_file=False)
    text8 = CleanConfig(preset="text8")
    assert ingest.head_has_tokens(b"... -- 7", text8, whole_file=True)
    assert not ingest.head_has_tokens(b"... -- 7", text8, whole_file=False)  # "7" may run on
    assert not ingest.head_has_tokens("!? — «» \t".encode(), text8, whole_file=True)


def test_tokens_after_a_head_that_cleans_to_nothing_are_found(spark, tmp_path, write_text):
    # The first 8 KB are punctuation only, so the cheap check cannot decide
    # and the probe job must find the word at the end.
    path = write_text("late.txt", "!!! ... ??? " * 2000 + "\nfinally words\n")
    cfg = make_cfg(tmp_path, path)
    result = ingest.run(spark, cfg)
    assert result.stats["tokens"] == 2
    assert [r["text"] for r in piece_rows(spark, cfg)] == ["finally words"]


def test_tables_whose_text_cleans_to_nothing_fail_and_keep_the_previous_table(spark, tmp_path, write_text):
    good = make_cfg(tmp_path, write_text("good.txt", TEXT))
    ingest.run(spark, good)
    version = tables.current_version(spark, good.output.path, "tokens")
    spark.createDataFrame([("d1", "!!! ..."), ("d2", "")], "doc string, body string").write.parquet(
        str(tmp_path / "junk")
    )
    junk = make_cfg(tmp_path, tmp_path / "junk", input={"format": "parquet", "column": "body"})
    with pytest.raises(InputError, match=r"produced no tokens.*2 lines read"):
        ingest.run(spark, junk)
    assert tables.current_version(spark, good.output.path, "tokens") == version


def test_a_stage_is_skipped_until_its_output_or_an_input_is_rewritten(spark, tmp_path, write_text):
    cfg = make_cfg(tmp_path, write_text("c.txt", TEXT), stages=["ingest", "vocab", "encode"])
    assert not any(s["skipped"] for s in run_pipeline(spark, cfg)["stages"])
    assert all(s["skipped"] for s in run_pipeline(spark, cfg)["stages"])
    # Another writer commits to encode's output: encode alone runs again.
    corpus = tables.read(spark, cfg.output.path, "corpus")
    tables.write(corpus.localCheckpoint(), cfg.output.path, "corpus", metadata={"by": "someone else"})
    again = {s["stage"]: s["skipped"] for s in run_pipeline(spark, cfg)["stages"]}
    assert again == {"ingest": True, "vocab": True, "encode": False}
    # ... and to vocab's: vocab runs again, and so does encode, whose input it is.
    words = tables.read(spark, cfg.output.path, "vocab")
    tables.write(words.localCheckpoint(), cfg.output.path, "vocab", metadata={"by": "someone else"})
    again = {s["stage"]: s["skipped"] for s in run_pipeline(spark, cfg)["stages"]}
    assert again == {"ingest": True, "vocab": False, "encode": False}
    assert all(s["skipped"] for s in run_pipeline(spark, cfg)["stages"])


def test_a_stage_run_alone_from_the_cli_leaves_its_run_summary(spark, tmp_path, write_text, capsys):
    from embedpipe import cli

    corpus = write_text("c.txt", TEXT)
    conf = tmp_path / "conf.yaml"
    conf.write_text(f"input:\n  path: {corpus}\noutput:\n  path: {tmp_path / 'out'}\nclean:\n  preset: text8\n")
    assert cli.main(["ingest", str(conf), "-q"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["stage"] == "ingest" and printed["stats"]["lines_read"] == 3
    summaries = list((tmp_path / "out" / "_runs").glob("*.json"))
    assert len(summaries) == 1
    saved = json.loads(summaries[0].read_text())
    assert [s["stage"] for s in saved["stages"]] == ["ingest"]
    assert saved["stages"][0]["stats"]["tokens"] == len(TEXT.split())
