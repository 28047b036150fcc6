"""Tests for embedpipe.cleaning (pure pyarrow; no Spark)."""

from __future__ import annotations

import doctest
import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from embedpipe.cleaning import (
    NEGATIONS,
    STOPWORDS,
    clean_tokens,
    split_pieces,
)
from embedpipe.cleaning import passes as cleaning
from embedpipe.config import CleanConfig

CORPUS_DIR = Path(
    os.environ.get("EMBEDPIPE_CORPUS_DIR", Path(__file__).resolve().parents[3] / "shared/corpus")
)


def toks(text: str | None, **kw: Any) -> list[str]:
    """Tokens of a single line under CleanConfig(**kw)."""
    out = clean_tokens(pa.array([text], type=pa.string()), CleanConfig(**kw))
    assert len(out) == 1
    return out.to_pylist()[0]


def text8_prefix(n_bytes: int = 200_000) -> str:
    path = CORPUS_DIR / "wiki17m.txt.gz"
    if not path.exists():
        pytest.skip(f"{path} not available")
    with gzip.open(path, "rb") as f:
        raw = f.read(n_bytes).decode("ascii")
    # Cut at a space so that the last word is complete.
    return raw[: raw.rfind(" ")]


# --------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------

NUM_LINE = "In 1984 he won 3 games"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("keep", ["in", "1984", "he", "won", "3", "games"]),
        ("drop", ["in", "he", "won", "games"]),
        ("token", ["in", "<num>", "he", "won", "<num>", "games"]),
        ("spell", ["in", "one", "nine", "eight", "four", "he", "won", "three", "games"]),
    ],
)
def test_numbers_modes(mode: str, expected: list[str]) -> None:
    assert toks(NUM_LINE, numbers=mode) == expected


def test_numbers_with_separators_and_alphanumeric_words() -> None:
    line = "Pi is 3.14, pop. 1,000,000 in the 1980s; mp3 2nd 1.5km v1.2 1984. 7.x"
    assert toks(line) == [
        "pi", "is", "3.14", "pop", "1,000,000", "in", "the", "1980s",
        "mp3", "2nd", "1.5km", "v1.2", "1984", "7", "x",
    ]  # fmt: skip
    assert toks(line, numbers="token") == [
        "pi", "is", "<num>", "pop", "<num>", "in", "the", "1980s",
        "mp3", "2nd", "1.5km", "v1.2", "<num>", "<num>", "x",
    ]  # fmt: skip
    assert toks(line, numbers="drop") == [
        "pi", "is", "pop", "in", "the", "1980s", "mp3", "2nd", "1.5km", "v1.2", "x",
    ]  # fmt: skip


def test_number_separators_are_not_sentence_marks() -> None:
    assert toks("It is 3.14. Or 1,5!", punctuation="sentence") == [
        "it", "is", "3.14", ".", "or", "1,5", "!",
    ]  # fmt: skip
    assert toks("It is 3.14.", punctuation="sentence", numbers="spell") == [
        "it", "is", "three", "one", "four", ".",
    ]  # fmt: skip
    # Control bytes in the input are junk, never separators.
    assert toks("3\x014 5\x026") == ["3", "4", "5", "6"]


def test_numbers_spell_every_digit_text8_style() -> None:
    assert toks("1980s cost 3.14", numbers="spell") == [
        "one", "nine", "eight", "zero", "s", "cost", "three", "one", "four",
    ]  # fmt: skip


def test_numbers_spell_other_scripts() -> None:
    # Arabic-Indic 3, Devanagari 4 (NFKC leaves them alone).
    assert toks("\u0663 \u096a 7", numbers="spell") == ["three", "four", "seven"]


# --------------------------------------------------------------------------
# normalisation and case
# --------------------------------------------------------------------------


def test_nfkc_ligature_and_full_width() -> None:
    assert toks("\ufb01nance \uff11\uff19\uff18\uff14 \uff28\uff45\uff4c\uff4c\uff4f") == [
        "finance",
        "1984",
        "hello",
    ]


def test_nfkc_off_keeps_ligature() -> None:
    assert toks("\ufb01nance", normalize=False) == ["\ufb01nance"]


def test_nfkc_nbsp_and_ellipsis() -> None:
    assert toks("a\u00a0b\u2026", punctuation="sentence") == ["a", "b", "."]


def test_lowercase_off() -> None:
    assert toks("Hello World, ÉCOLE") == ["hello", "world", "école"]
    assert toks("Hello World, ÉCOLE", lowercase=False) == ["Hello", "World", "ÉCOLE"]


def test_unicode_letters_are_kept() -> None:
    assert toks("Café Straße Москва 東京 naïve Ελλάδα") == [
        "café", "straße", "москва", "東京", "naïve", "ελλάδα",
    ]  # fmt: skip


def test_soft_hyphen_is_deleted_not_a_break() -> None:
    assert toks("co\u00adoperate") == ["cooperate"]


# --------------------------------------------------------------------------
# punctuation, apostrophes, hyphens
# --------------------------------------------------------------------------


def test_punctuation_drop() -> None:
    assert toks("Really?! Wait... (yes); U.S. ok.") == ["really", "wait", "yes", "u", "s", "ok"]


def test_punctuation_sentence() -> None:
    assert toks("Really?! Wait... (yes); U.S. ok.", punctuation="sentence") == [
        "really", "?", "wait", ".", "yes", "u", ".", "s", ".", "ok", ".",
    ]  # fmt: skip


def test_apostrophes_inside_words_are_kept() -> None:
    line = "Don't panic: it's O'Brien's rock'n'roll, isn’t it?"
    assert toks(line) == ["don't", "panic", "it's", "o'brien's", "rock'n'roll", "isn't", "it"]


def test_apostrophes_as_quotes_are_dropped() -> None:
    assert toks("'quoted' the students' books 'n' x' 'y") == [
        "quoted", "the", "students", "books", "n", "x", "y",
    ]  # fmt: skip
    assert toks("'90s and '.'", punctuation="sentence") == ["90s", "and", "."]


def test_hyphens_and_slashes_split_words() -> None:
    assert toks("state-of-the-art and/or e–mail") == [
        "state", "of", "the", "art", "and", "or", "e", "mail",
    ]  # fmt: skip


# --------------------------------------------------------------------------
# URLs, e-mails, mentions, hashtags
# --------------------------------------------------------------------------

ITEMS_LINE = "See https://example.com/a?b=1. Mail me@x.org, ask @john_doe #NLP2024 now"


@pytest.mark.parametrize(
    ("option", "tag", "dropped"),
    [
        ("urls", "<url>", ["see", "mail", "ask", "now"]),
        ("emails", "<email>", ["see", "mail", "ask", "now"]),
        ("mentions", "<mention>", ["see", "mail", "ask", "now"]),
        ("hashtags", "<hashtag>", ["see", "mail", "ask", "now"]),
    ],
)
def test_items_drop_vs_tag(option: str, tag: str, dropped: list[str]) -> None:
    assert toks(ITEMS_LINE) == dropped
    tagged = toks(ITEMS_LINE, **{option: "tag"})
    position = {"urls": 1, "emails": 2, "mentions": 3, "hashtags": 3}[option]
    expected = list(dropped)
    expected.insert(position, tag)
    assert tagged == expected


def test_all_items_tagged() -> None:
    kw = {name: "tag" for name in ("urls", "emails", "mentions", "hashtags")}
    assert toks(ITEMS_LINE, **kw) == [
        "see", "<url>", "mail", "<email>", "ask", "<mention>", "<hashtag>", "now",
    ]  # fmt: skip


def test_items_edge_cases() -> None:
    kw = {name: "tag" for name in ("urls", "emails", "mentions", "hashtags")}
    # www. without scheme, URL in parentheses, "C#" and "#1" are not hashtags,
    # an e-mail is not a mention, bare domains are text.
    assert toks("(www.foo.com/bar) C# #1 a@b.co example.com", **kw) == [
        "<url>", "c", "1", "<email>", "example", "com",
    ]  # fmt: skip


def test_url_keeps_trailing_sentence_mark() -> None:
    assert toks("Go to http://x.org/a.", urls="tag", punctuation="sentence") == [
        "go", "to", "<url>", ".",
    ]  # fmt: skip


def test_tags_survive_punctuation_symbols_and_min_length() -> None:
    opts = dict(
        urls="tag", numbers="token", symbols="keep", punctuation="sentence",
        min_token_length=5, stopwords=True,
    )  # fmt: skip
    assert toks("Visit http://x.org, now! 42 items", **opts) == [
        "visit", "<url>", "!", "<num>", "items",
    ]  # fmt: skip


def test_input_cannot_forge_tags() -> None:
    # Private-use characters are removed before the tag sentinels are written;
    # literal "<url>" text is ordinary punctuation plus a word.
    assert toks("fake \ue001 <url> x", urls="tag") == ["fake", "url", "x"]
    assert toks("fake \ue001 x") == ["fake", "x"]


# --------------------------------------------------------------------------
# symbols
# --------------------------------------------------------------------------

SYMBOLS_LINE = "I \u2764\ufe0f NY \u00a9 2020 \u20ac5 x+y \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8"


def test_symbols_drop() -> None:
    assert toks(SYMBOLS_LINE) == ["i", "ny", "2020", "5", "x", "y"]


def test_symbols_keep() -> None:
    assert toks(SYMBOLS_LINE, symbols="keep") == [
        "i", "\u2764", "ny", "\u00a9", "2020", "\u20ac", "5", "x", "+", "y",
        "\U0001f44d", "\U0001f1fa\U0001f1f8",
    ]  # fmt: skip


def test_symbols_keep_zwj_sequence_one_token_per_emoji() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert toks(family, symbols="keep") == ["\U0001f468", "\U0001f469", "\U0001f467"]
    assert toks(family) == []


# --------------------------------------------------------------------------
# stopwords and min length
# --------------------------------------------------------------------------


def test_stopwords_remove_the_keep_negations() -> None:
    line = "The cat is not on the mat, no, never, nor none; don't and can't cannot"
    assert toks(line) == [
        "the", "cat", "is", "not", "on", "the", "mat", "no", "never", "nor", "none",
        "don't", "and", "can't", "cannot",
    ]  # fmt: skip
    assert toks(line, stopwords=True) == [
        "cat", "not", "mat", "no", "never", "nor", "none", "don't", "can't", "cannot",
    ]  # fmt: skip


def test_stopword_list_never_contains_negations() -> None:
    assert "the" in STOPWORDS
    assert STOPWORDS.isdisjoint(NEGATIONS)
    assert not [w for w in STOPWORDS if w.endswith("n't")]
    assert {"not", "no", "never", "nor", "cannot"} <= NEGATIONS


def test_stopwords_case_insensitive_without_lowercasing() -> None:
    assert toks("The Cat NOT", stopwords=True, lowercase=False) == ["Cat", "NOT"]


def test_min_token_length() -> None:
    assert toks("a bb ccc é ab", min_token_length=2) == ["bb", "ccc", "ab"]
    # Length counts characters, not bytes.
    assert toks("éé é", min_token_length=2) == ["éé"]
    # Sentence marks and kept symbols are exempt.
    assert toks("a b. c ©", min_token_length=2, punctuation="sentence", symbols="keep") == [
        ".",
        "©",
    ]


# --------------------------------------------------------------------------
# text8 preset
# --------------------------------------------------------------------------


def test_text8_identity_on_real_prefix() -> None:
    text = text8_prefix()
    assert len(text) > 190_000
    out = clean_tokens(pa.array([text]), CleanConfig(preset="text8"))
    assert out.to_pylist()[0] == text.split()


def test_default_options_identity_on_real_prefix() -> None:
    # text8-form text is also a fixed point of the default pipeline.
    text = text8_prefix(50_000)
    assert clean_tokens(pa.array([text]), CleanConfig()).to_pylist()[0] == text.split()


def test_text8_on_raw_text() -> None:
    line = "Café No. 5 costs $10,5 in 1984! Ελλάδα CAPS\tend"
    assert toks(line, preset="text8") == [
        "caf", "no", "five", "costs", "one", "zero", "five", "in",
        "one", "nine", "eight", "four", "caps", "end",
    ]  # fmt: skip


def test_text8_ignores_other_options() -> None:
    line = "The URL http://x.org has 2 ﬁxes!"
    expected = ["the", "url", "http", "x", "org", "has", "two", "xes"]
    assert toks(line, preset="text8") == expected
    other = dict(
        normalize=True, lowercase=False, numbers="token", urls="tag", stopwords=True,
        punctuation="sentence", symbols="keep", min_token_length=4,
    )  # fmt: skip
    assert toks(line, preset="text8", **other) == expected


# --------------------------------------------------------------------------
# array handling
# --------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["none", "text8"])
def test_null_and_empty_lines(preset: str) -> None:
    arr = pa.array(["a b", None, "", "   ", "!!", "x"])
    out = clean_tokens(arr, CleanConfig(preset=preset))  # type: ignore[arg-type]
    assert out.to_pylist() == [["a", "b"], [], [], [], [], ["x"]]
    assert out.null_count == 0
    assert out.type == pa.list_(pa.string())


def test_empty_input() -> None:
    out = clean_tokens(pa.array([], type=pa.string()), CleanConfig())
    assert len(out) == 0 and out.type == pa.list_(pa.string())


def test_chunked_and_large_string_inputs() -> None:
    chunked = pa.chunked_array([["Hello, world"], [None, "Bye 2"]])
    expected = [["hello", "world"], [], ["bye", "2"]]
    assert clean_tokens(chunked, CleanConfig()).to_pylist() == expected
    large = pa.array(["Hello, world", None, "Bye 2"], type=pa.large_string())
    out = clean_tokens(large, CleanConfig(numbers="token"))
    assert out.to_pylist() == [["hello", "world"], [], ["bye", "<num>"]]
    # Small large_string batches come back as plain list<string>.
    assert out.type == pa.list_(pa.string())
    view = clean_tokens(pa.array(["Hi there"]).cast(pa.string_view()), CleanConfig())
    assert view.to_pylist() == [["hi", "there"]] and view.type == pa.list_(pa.string())


def test_batch_equals_row_by_row() -> None:
    # Rows are processed by masked sub-batches (ASCII/non-ASCII, with/without
    # digits); the scatter back must keep every row in place.
    lines = [
        "Plain ASCII line, 12 words.",
        "Ünïcödé line with ﬁ and 3.5",
        None,
        "@bob see www.x.org #tag",
        "\u0663 digits",
        "",
        "ASCII again 7",
    ]
    for opts in (
        CleanConfig(),
        CleanConfig(numbers="spell", urls="tag", mentions="tag", hashtags="tag"),
        CleanConfig(numbers="token", stopwords=True, min_token_length=2),
        CleanConfig(preset="text8"),
    ):
        batch = clean_tokens(pa.array(lines, type=pa.string()), opts).to_pylist()
        single = [clean_tokens(pa.array([x], type=pa.string()), opts).to_pylist()[0] for x in lines]
        assert batch == single


def test_long_line_is_linear() -> None:
    # ~6 MB single line with every kind of junk; must stay fast (no quadratic
    # regex) and agree with the per-sentence result.
    unit = "Hello, World! It's 3.14 (see http://x.org) \u00e9t\u00e9 \u2014 #tag @me 42 \u00a9. "
    line = unit * 80_000
    opts = CleanConfig(urls="tag", hashtags="tag", mentions="tag", numbers="token")
    out = clean_tokens(pa.array([line]), opts)
    one = toks(unit, urls="tag", hashtags="tag", mentions="tag", numbers="token")
    assert len(out.values) == len(one) * 80_000
    assert out.values.slice(0, 3 * len(one)).to_pylist() == one * 3


TRICKY_LINES = [
    "Don't  panic:\tit's 'quoted'  x' 'y rock'n'roll students' books",
    "See https://example.com/a?b=1. Mail me@x.org, @john #NLP2024 C# #1 now",
    "Pi 3.14, 1,000,000 1980s mp3 1.5km \u0663\u0664 ﬁ １２ É Straße...!? ok",
    "I \u2764\ufe0f NY \u00a9 \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8 a \u0301b co\u00adop",
    "nospacesatall,just-punctuation-and-words-for-a-long-time",
    "",
    None,
    " leading and trailing spaces ",
]


@pytest.mark.parametrize(
    "opts",
    [
        CleanConfig(),
        CleanConfig(preset="text8"),
        CleanConfig(
            punctuation="sentence", numbers="token", urls="tag", emails="tag",
            mentions="tag", hashtags="tag", symbols="keep", stopwords=True, min_token_length=2,
        ),
        CleanConfig(numbers="spell", normalize=False, lowercase=False),
        CleanConfig(numbers="drop", symbols="keep"),
    ],
)  # fmt: skip
def test_long_rows_cut_into_chunks_give_same_tokens(
    opts: CleanConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long rows are processed as ~1 MiB chunks cut at whitespace; with a tiny
    # chunk size almost every word boundary becomes a cut, and the tokens
    # must not change.
    lines = TRICKY_LINES + [" ".join(x for x in TRICKY_LINES if x)]
    arr = pa.array(lines, type=pa.string())
    reference = clean_tokens(arr, opts).to_pylist()
    for chunk in (1, 5, 17):
        monkeypatch.setattr(cleaning, "_CHUNK_BYTES", chunk)
        assert clean_tokens(arr, opts).to_pylist() == reference
        assert clean_tokens(arr.slice(2, 6), opts).to_pylist() == reference[2:8]


@pytest.mark.parametrize("chunk", [1 << 20, 7])
def test_large_string_path_gives_same_tokens(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches over 1 GiB are processed as large_string (64-bit offsets);
    # lower the threshold to run that path on small data.
    lines = pa.array(TRICKY_LINES + [" ".join(x for x in TRICKY_LINES if x)], type=pa.string())
    all_on = CleanConfig(
        punctuation="sentence", numbers="token", urls="tag", mentions="tag", symbols="keep",
        stopwords=True, min_token_length=2,
    )  # fmt: skip
    for opts in (CleanConfig(), CleanConfig(preset="text8"), all_on):
        reference = clean_tokens(lines, opts)
        monkeypatch.setattr(cleaning, "_LARGE_THRESHOLD", 10)
        monkeypatch.setattr(cleaning, "_CHUNK_BYTES", chunk)
        out = clean_tokens(lines, opts)
        monkeypatch.undo()
        assert out.type == pa.list_(pa.large_string())
        assert out.to_pylist() == reference.to_pylist()
        pieces, li, pn = split_pieces(out, 3)
        assert pieces.to_pylist() == split_pieces(reference, 3)[0].to_pylist()


def test_number_separators_never_join_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    arr = pa.array(["a 3", ".5 b", "7,", "8", "9.9 1.2.3,4"], type=pa.string())
    opts = CleanConfig(punctuation="sentence")
    expected = [["a", "3"], [".", "5", "b"], ["7"], ["8"], ["9.9", "1.2.3,4"]]
    assert clean_tokens(arr, opts).to_pylist() == expected
    # The byte scan works in blocks; tiny blocks must find the same separators.
    for block in (1, 2, 3):
        monkeypatch.setattr(cleaning, "_SCAN_BLOCK", block)
        assert clean_tokens(arr, opts).to_pylist() == expected
        assert clean_tokens(arr.slice(1), opts).to_pylist() == expected[1:]


FUZZ_PIECES = [*"aZé ß.,!?'’-\t\n@#:/0123456789$€©+<>"] + [
    "http://", "www.", ".com", "\u00a0", "\u00ad", "\ufb01", "\uff11", "\u0663",
    "\U0001f44d", "\U0001f3fd", "\ufe0f", "\u200d", "\ue001", "\x01", "\x02",
    "\u0301", "...", "1.5", "1,000", "don't", "#tag", "@me", "a@b.co", "東京",
]  # fmt: skip


@pytest.mark.parametrize(
    "opts",
    [
        CleanConfig(),
        CleanConfig(preset="text8"),
        CleanConfig(
            punctuation="sentence", numbers="token", urls="tag", emails="tag",
            mentions="tag", hashtags="tag", symbols="keep", stopwords=True, min_token_length=2,
        ),
        CleanConfig(numbers="spell", normalize=False, lowercase=False),
    ],
)  # fmt: skip
def test_random_lines_invariants(opts: CleanConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    lines: list[str | None] = [
        "".join(rng.choice(FUZZ_PIECES, size=rng.integers(0, 40))) for _ in range(150)
    ]
    lines.append(None)
    out = clean_tokens(pa.array(lines, type=pa.string()), opts).to_pylist()
    # Rows are independent of each other...
    assert out == [toks(x, **vars(opts)) for x in lines]
    # ...tokens are never empty, never contain whitespace or internal markers...
    markers = "\x01\x02\ue001\ue002\ue003\ue004\u00ad\ufe0f"
    for token in (t for row in out for t in row):
        assert token and not any(c.isspace() or c in markers for c in token)
        if opts.preset == "text8":
            assert token.isascii() and token.isalpha() and token.islower()
    # ...and cutting one long line into chunks changes nothing.
    joined = pa.array([" ".join(x for x in lines if x)])
    reference = clean_tokens(joined, opts).to_pylist()
    monkeypatch.setattr(cleaning, "_CHUNK_BYTES", 64)
    assert clean_tokens(joined, opts).to_pylist() == reference


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        CleanConfig(numbers="words")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CleanConfig(min_token_length=-1)
    with pytest.raises(TypeError):
        CleanConfig("text8")  # type: ignore[misc]  # keyword-only


def test_module_doctest() -> None:
    result = doctest.testmod(cleaning)
    assert result.failed == 0


# --------------------------------------------------------------------------
# split_pieces
# --------------------------------------------------------------------------


def _lists(lengths: list[int]) -> pa.ListArray:
    rows = [[f"r{i}t{j}" for j in range(n)] for i, n in enumerate(lengths)]
    return pa.array(rows, type=pa.list_(pa.string()))


def test_split_pieces_lengths() -> None:
    m = 4
    lengths = [0, 1, m, m + 1, 3 * m + 2]
    tokens = _lists(lengths)
    pieces, line_index, piece_number = split_pieces(tokens, m)

    expected_pieces: list[list[str]] = []
    expected_line: list[int] = []
    expected_num: list[int] = []
    for i, row in enumerate(tokens.to_pylist()):
        for k, start in enumerate(range(0, len(row), m)):
            expected_pieces.append(row[start : start + m])
            expected_line.append(i)
            expected_num.append(k)

    assert pieces.to_pylist() == expected_pieces
    assert [len(p) for p in expected_pieces] == [1, 4, 4, 1, 4, 4, 4, 2]
    assert line_index.tolist() == expected_line == [1, 2, 3, 3, 4, 4, 4, 4]
    assert piece_number.tolist() == expected_num == [0, 0, 0, 1, 0, 1, 2, 3]
    assert line_index.dtype == np.int64 and piece_number.dtype == np.int32
    assert pieces.type == pa.list_(pa.string())


def test_split_pieces_nulls_slices_and_chunks() -> None:
    # A null row whose offsets still span values must contribute nothing.
    values = pa.array(["a", "b", "c", "d", "e"])
    offsets = pa.array([0, 2, 4, 5], type=pa.int32())
    mask = pa.array([False, True, False])
    tokens = pa.ListArray.from_arrays(offsets, values, mask=mask)
    pieces, li, pn = split_pieces(tokens, 1)
    assert pieces.to_pylist() == [["a"], ["b"], ["e"]]
    assert li.tolist() == [0, 0, 2] and pn.tolist() == [0, 1, 0]

    # Sliced input: indices are relative to the slice.
    sliced = _lists([3, 5, 2]).slice(1, 2)
    pieces, li, pn = split_pieces(sliced, 2)
    assert pieces.to_pylist() == [["r1t0", "r1t1"], ["r1t2", "r1t3"], ["r1t4"], ["r2t0", "r2t1"]]
    assert li.tolist() == [0, 0, 0, 1] and pn.tolist() == [0, 1, 2, 0]

    chunked = pa.chunked_array([_lists([2]), _lists([0, 3])])
    pieces, li, pn = split_pieces(chunked, 2)
    assert [len(p) for p in pieces.to_pylist()] == [2, 2, 1]
    assert li.tolist() == [0, 2, 2]


def test_split_pieces_empty_and_invalid() -> None:
    pieces, li, pn = split_pieces(_lists([0, 0]), 3)
    assert len(pieces) == 0 and len(li) == 0 and len(pn) == 0
    pieces, li, pn = split_pieces(pa.array([], type=pa.list_(pa.string())), 3)
    assert len(pieces) == 0
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError):
            split_pieces(_lists([1]), bad)  # type: ignore[arg-type]


def test_split_pieces_large_list() -> None:
    tokens = pa.array([["a", "b", "c"]], type=pa.large_list(pa.string()))
    pieces, li, pn = split_pieces(tokens, 2)
    assert pieces.type == pa.large_list(pa.string())
    assert pieces.to_pylist() == [["a", "b"], ["c"]]


def test_clean_then_split_round_trip() -> None:
    text = text8_prefix(100_000)
    tokens = clean_tokens(pa.array([text, None, "one two"]), CleanConfig(preset="text8"))
    pieces, li, pn = split_pieces(tokens, 1000)
    words = text.split()
    n = -(-len(words) // 1000)
    assert len(pieces) == n + 1
    assert pa.concat_arrays([p.values for p in pieces[:n]]).to_pylist() == words
    assert li.tolist() == [0] * n + [2]
    assert pn.tolist() == list(range(n)) + [0]
