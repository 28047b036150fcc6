"""The token hash: FNV-1a with a 64-bit finalizer, checked against a plain Python copy."""

from __future__ import annotations

import numpy as np

from embedpipe.kernels.hashing import hash_strings

MASK = 2**64 - 1


def reference_hash(data: bytes, seed: int = 0) -> int:
    h = 0xCBF29CE484222325 ^ seed
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return h - 2**64 if h >= 2**63 else h


def buffers(words: list[str], offset_type=np.int32) -> tuple[np.ndarray, np.ndarray]:
    encoded = [w.encode() for w in words]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(offset_type)
    return offsets, np.frombuffer(b"".join(encoded), dtype=np.uint8)


def test_each_string_hashes_as_the_reference_does_with_either_offset_width():
    words = ["", "a", "the", "москва", "東京", "don't", "x" * 1000]
    want = [reference_hash(w.encode()) for w in words]
    assert hash_strings(*buffers(words)).tolist() == want
    assert hash_strings(*buffers(words, np.int64)).tolist() == want
    assert hash_strings(*buffers(words)).dtype == np.int64


def test_another_seed_gives_other_hashes():
    words = ["alpha", "beta"]
    assert hash_strings(*buffers(words), seed=3).tolist() == [reference_hash(w.encode(), 3) for w in words]
    assert not set(hash_strings(*buffers(words), seed=3).tolist()) & set(hash_strings(*buffers(words)).tolist())


def test_a_million_distinct_short_strings_get_distinct_hashes():
    # Strings that differ only in their last byte or two are the hard case
    # for a weak hash; here none of 1M share a hash.
    words = [f"w{k}" for k in range(1_000_000)]
    assert len(np.unique(hash_strings(*buffers(words)))) == len(words)


def test_no_strings_give_no_hashes():
    assert hash_strings(np.array([0], np.int32), np.empty(0, np.uint8)).tolist() == []
