"""text8 tokenization (wikifil.pl's character normalisation) as a byte kernel.

Every byte of UTF-8 text is one of three kinds: an ASCII letter (kept,
lower-cased), an ASCII digit (a token of its own: its English name), or a
separator (everything else, including each byte of a non-ASCII character).
Tokens are the maximal runs of letters and the spelled digits, so
"x9Y" is ["x", "nine", "y"] and "café" is ["caf"]. A token never crosses
a row.

This is what ``embedpipe.cleaning`` did with five Arrow passes (lower-case,
spell digits, blank the rest, trim, split); one pass over the bytes does it
in about half the time (ingest's largest Python cost on text8-form
corpora), and it needs no chunking of 100 MB lines.

Pure numpy/numba, no Arrow: the caller hands in the string array's data and
offsets buffers and wraps the result.
"""

from __future__ import annotations

import numba
import numpy as np

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

SEPARATOR, LETTER, DIGIT = 0, 1, 2


def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per byte value: its kind, how many output bytes it becomes, and those
    bytes (a letter's lower case, a digit's name)."""
    kind = np.full(256, SEPARATOR, np.uint8)
    width = np.zeros(256, np.int64)
    spelled = np.zeros((256, max(map(len, DIGIT_WORDS))), np.uint8)
    for c in range(256):
        ch = chr(c)
        if ch.isascii() and ch.isalpha():
            kind[c], width[c], spelled[c, 0] = LETTER, 1, ord(ch.lower())
        elif ch.isascii() and ch.isdigit():
            word = DIGIT_WORDS[c - ord("0")].encode()
            kind[c], width[c] = DIGIT, len(word)
            spelled[c, : len(word)] = np.frombuffer(word, np.uint8)
    return kind, width, spelled


KIND, WIDTH, SPELLED = _byte_tables()


@numba.njit(cache=True, nogil=True)
def _sizes(data, offsets, kind, width):  # type: ignore[no-untyped-def]
    n_bytes = 0
    n_tokens = 0
    for r in range(len(offsets) - 1):
        prev = SEPARATOR
        for p in range(offsets[r], offsets[r + 1]):
            k = kind[data[p]]
            n_bytes += width[data[p]]
            if k == DIGIT or (k == LETTER and prev != LETTER):
                n_tokens += 1
            prev = k
    return n_bytes, n_tokens


@numba.njit(cache=True, nogil=True)
def _fill(data, offsets, kind, width, spelled, out, token_offsets, row_tokens):  # type: ignore[no-untyped-def]
    o = 0
    t = 0
    row_tokens[0] = 0
    for r in range(len(offsets) - 1):
        prev = SEPARATOR
        for p in range(offsets[r], offsets[r + 1]):
            c = data[p]
            k = kind[c]
            if k == LETTER:
                if prev != LETTER:
                    token_offsets[t] = o
                    t += 1
                out[o] = spelled[c, 0]
                o += 1
            elif k == DIGIT:
                token_offsets[t] = o
                t += 1
                for q in range(width[c]):
                    out[o] = spelled[c, q]
                    o += 1
            prev = k
        row_tokens[r + 1] = t
    token_offsets[t] = o


def has_tokens(data: bytes) -> bool:
    """Whether ``data`` has any text8 token: any ASCII letter or digit byte.

    A byte-table lookup, no compiled call: ingest asks this of a file's
    first bytes on the driver, where a first numba call costs a noticeable
    fraction of a second.
    """
    return bool(KIND[np.frombuffer(data, np.uint8)].any())


def text8_tokens(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenize rows of UTF-8 text the text8 way.

    Parameters
    ----------
    data : numpy.ndarray of uint8
        The text bytes.
    offsets : numpy.ndarray of int32 or int64
        Row r is ``data[offsets[r]:offsets[r + 1]]``.

    Returns
    -------
    token_bytes : numpy.ndarray of uint8
        All tokens back to back.
    token_offsets : numpy.ndarray
        Token i is ``token_bytes[token_offsets[i]:token_offsets[i + 1]]``;
        int32 when ``token_bytes`` fits 32-bit offsets, else int64.
    row_tokens : numpy.ndarray
        Row r has tokens ``row_tokens[r]`` to ``row_tokens[r + 1]``; int32
        when the token count fits, else int64.
    """
    n_bytes, n_tokens = _sizes(data, offsets, KIND, WIDTH)
    small = np.iinfo(np.int32).max
    out = np.empty(n_bytes, np.uint8)
    token_offsets = np.empty(n_tokens + 1, np.int32 if n_bytes <= small else np.int64)
    row_tokens = np.empty(len(offsets), np.int32 if n_tokens <= small else np.int64)
    _fill(data, offsets, KIND, WIDTH, SPELLED, out, token_offsets, row_tokens)
    return out, token_offsets, row_tokens
