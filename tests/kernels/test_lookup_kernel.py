"""Looking tokens up in the vocabulary's hash table, against a Python dict."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from embedpipe.batches import string_buffers
from embedpipe.kernels.lookup import EMPTY, build_word_table, encode_texts


def encode(texts: pa.Array, words: list[str]) -> list[list[int]]:
    word_bytes, word_offsets = string_buffers(pa.array(words, pa.string()))
    table = build_word_table(word_bytes, word_offsets)
    data, offsets = string_buffers(texts)
    ids, text_offsets = encode_texts(data, offsets, ord(" "), word_bytes, word_offsets, table)
    assert ids.dtype == np.int32 and text_offsets[0] == 0 and len(text_offsets) == len(texts) + 1
    return [ids[a:b].tolist() for a, b in zip(text_offsets[:-1], text_offsets[1:], strict=True)]


def by_dict(texts: list[str], words: list[str]) -> list[list[int]]:
    position = {w: i for i, w in enumerate(words)}
    return [[position[t] for t in text.split(" ") if t in position] for text in texts]


def test_tokens_map_to_word_positions_and_the_rest_is_left_out():
    words = ["the", "fox", "thé", "a", "ab"]
    texts = ["the quick fox", "thé the", "abc ab a", "", "nothing here", "fox"]
    assert encode(pa.array(texts), words) == [[0, 1], [2, 0], [4, 3], [], [], [1]]


def test_prefixes_and_empty_tokens_are_not_words():
    # "" between two separators, or at either end, is never a word.
    assert encode(pa.array(["  a  ", "aa a", "a aaa"]), ["a", "aa"]) == [[0], [1, 0], [0]]


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string()])
def test_random_texts_match_a_dict_lookup(string_type):
    rng = np.random.default_rng(11)
    letters = list("abcdeé")  # short words: many share prefixes and hash slots
    pool = ["".join(rng.choice(letters, rng.integers(1, 5))) for _ in range(3_000)]
    words = sorted(set(pool))[::2]  # about half the distinct tokens are words
    texts = [" ".join(rng.choice(pool, rng.integers(0, 30))) for _ in range(500)]
    arr = pa.array(["drop me", *texts], string_type).slice(1)  # a sliced array, offset 1
    assert encode(arr, words) == by_dict(texts, words)


def test_the_table_holds_every_word_once_with_room_to_spare():
    words = [f"w{k}" for k in range(1_000)]
    table = build_word_table(*string_buffers(pa.array(words)))
    assert len(table) >= 2 * len(words) and len(table) & (len(table) - 1) == 0
    assert sorted(table[table != EMPTY].tolist()) == list(range(len(words)))


def test_string_buffers_reject_other_types():
    with pytest.raises(TypeError, match="expected string or large_string"):
        string_buffers(pa.array([1, 2]))
