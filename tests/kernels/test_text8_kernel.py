"""The text8 byte kernel against a byte-by-byte reading of wikifil.pl's rules."""

from __future__ import annotations

import numpy as np
import pytest

from embedpipe.kernels.text8 import DIGIT_WORDS, has_tokens, text8_tokens


def wikifil_tokens(row: bytes) -> list[str]:
    """The rules one byte at a time: letters lower-cased, each digit its
    name between spaces, every other byte a space; then split."""
    out = []
    for c in row:
        ch = chr(c)
        if ch.isascii() and ch.isalpha():
            out.append(ch.lower())
        elif ch.isascii() and ch.isdigit():
            out.append(f" {DIGIT_WORDS[int(ch)]} ")
        else:
            out.append(" ")
    return "".join(out).split()


def kernel_rows(rows: list[bytes], offset_dtype: type = np.int32) -> list[list[str]]:
    data = np.frombuffer(b"".join(rows), np.uint8) if rows else np.zeros(0, np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(offset_dtype)
    token_bytes, token_offsets, row_tokens = text8_tokens(data, offsets)
    text = token_bytes.tobytes().decode("ascii")
    tokens = [text[a:b] for a, b in zip(token_offsets[:-1], token_offsets[1:], strict=True)]
    return [tokens[a:b] for a, b in zip(row_tokens[:-1], row_tokens[1:], strict=True)]


def test_letters_are_lowered_digits_spelled_and_everything_else_splits():
    rows = ["Hello, World 42!", "x9Y", "Café No.5", "Ελλάδα", "a\tb\nc\x00d", "", "   "]
    assert kernel_rows([r.encode() for r in rows]) == [
        ["hello", "world", "four", "two"],
        ["x", "nine", "y"],
        ["caf", "no", "five"],
        [],
        ["a", "b", "c", "d"],
        [],
        [],
    ]


def test_text8_form_is_a_fixed_point():
    row = b"anarchism originated as a term of abuse first used against early working class radicals"
    assert kernel_rows([row]) == [row.decode().split()]


def test_tokens_never_cross_rows():
    # "ab" + "cd" in adjacent rows are two tokens, not "abcd".
    assert kernel_rows([b"ab", b"cd", b"7", b"e"]) == [["ab"], ["cd"], ["seven"], ["e"]]


@pytest.mark.parametrize("offset_dtype", [np.int32, np.int64])
def test_random_bytes_match_the_rules(offset_dtype):
    rng = np.random.default_rng(7)
    # Mostly letters and spaces, with digits, punctuation, UTF-8 and raw high bytes.
    alphabet = np.frombuffer(b"abcxyzABCXYZ    0123456789.,-'\t\n\xc3\xa9\xce\xbb\xff\x80", np.uint8)
    rows = [alphabet[rng.integers(0, len(alphabet), rng.integers(0, 60))].tobytes() for _ in range(2_000)]
    assert kernel_rows(rows, offset_dtype) == [wikifil_tokens(r) for r in rows]


def test_every_byte_value_on_its_own():
    rows = [bytes([c]) for c in range(256)]
    assert kernel_rows(rows) == [wikifil_tokens(r) for r in rows]


def test_offsets_are_32_bit_while_they_fit():
    _, token_offsets, row_tokens = text8_tokens(np.frombuffer(b"a1 b", np.uint8), np.array([0, 4], np.int64))
    assert token_offsets.dtype == np.int32 and row_tokens.dtype == np.int32
    assert token_offsets.tolist() == [0, 1, 4, 5] and row_tokens.tolist() == [0, 3]


def test_has_tokens_agrees_with_the_kernel():
    rng = np.random.default_rng(3)
    alphabet = np.frombuffer(b"a Z 5 .,!?-\t\n\xc3\xa9\xff", np.uint8)
    heads = [bytes([c]) for c in range(256)] + [b"", b"!!! ... \xe2\x80\x94", b"\xce\xbb 7"]
    heads += [alphabet[rng.integers(0, len(alphabet), rng.integers(0, 4))].tobytes() for _ in range(500)]
    assert any(has_tokens(h) for h in heads) and not all(has_tokens(h) for h in heads)
    assert [has_tokens(h) for h in heads] == [bool(row) for row in kernel_rows(heads)]
