"""The cleaning passes: whole-array Arrow and numpy work on a batch of raw lines.

The rules and their order are in the package docstring (:mod:`embedpipe.cleaning`).
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedpipe.batches import string_buffers
from embedpipe.cleaning.wordlists import STOPWORDS, TAG_TOKENS
from embedpipe.config import CleanConfig
from embedpipe.kernels.text8 import DIGIT_WORDS, text8_tokens

# One private-use sentinel character per tag. Private-use characters are
# neither letters, marks, numbers, punctuation nor symbols, so no later pass
# touches them; they are mapped to TAG_TOKENS on the token array at the end.
_SENTINEL: dict[str, str] = {
    "urls": "\ue001",
    "emails": "\ue002",
    "mentions": "\ue003",
    "hashtags": "\ue004",
}
_SENTINEL_RANGE = r"\x{E000}-\x{E00F}"


# ---------------------------------------------------------------------------
# Regular expressions (RE2 syntax; RE2 runs in linear time, no backtracking)
# ---------------------------------------------------------------------------

# Arrow compiles the pattern on every call, and RE2 takes milliseconds to
# compile the big Unicode classes (~10 ms for the four item patterns, paid
# per record batch). A trivial ASCII "hint" picks the rows that may contain
# an item, and the item patterns only run (and compile) when there are any.
_ITEM_HINT = r"[@#]|://|(?i:www\.)"
# A URL ends on a character that is not trailing punctuation, so "see
# http://x.org/a." keeps its full stop.
_URL = r"(?i:\b(?:https?://|ftp://|www\.)[^\s<>\"]*[^\s<>\"'.,;:!?)\]}])"
# E-mail addresses are recognised in their (usual) ASCII form.
_EMAIL = r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"
# RE2 has no look-behind, so "not preceded by a word character" consumes that
# character in group 1 and the replacement writes it back. "&" excludes HTML
# entities such as "&#123;".
_ITEM_CTX = r"(^|[^\p{L}\p{M}\p{N}_&])"
_MENTION = r"@[\p{L}\p{M}\p{N}_]+"
_HASHTAG = r"#[\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*"

# The four patterns dropped in a single pass (the default options).
_ALL_ITEMS_DROP = rf"{_URL}|{_EMAIL}|{_ITEM_CTX}(?:{_MENTION}|{_HASHTAG})"

_NUMBER_TOKEN = r"^\p{N}+(?:[.,]\p{N}+)*$"


# Number separators ("3.14", "1,000") are protected from the punctuation pass
# by swapping them, in place, for these two control bytes (see
# _protect_number_separators); they are swapped back on the token array.
_PROTECTED_DOT = "\x01"
_PROTECTED_COMMA = "\x02"
_SCAN_BLOCK = 1 << 22  # bytes per numpy block when scanning text buffers


@functools.lru_cache(maxsize=32)
def _isolate_pattern(punctuation: str, symbols: str) -> str | None:
    """Regex for the characters that become tokens of their own, or None.

    Each match is rewritten as ``" \\0 "`` (the match between spaces):
    runs of ". ! ?" with ``punctuation="sentence"``, and one symbol (or a
    pair of regional indicators, i.e. a flag) with the marks that follow it
    with ``symbols="keep"``.
    """
    alts = []
    if punctuation == "sentence":
        alts.append(r"[.!?]+")
    if symbols == "keep":
        alts.append(r"(?:[\x{1F1E6}-\x{1F1FF}]{2}|\p{S})\p{M}*")
    return "|".join(alts) or None


@functools.lru_cache(maxsize=32)
def _junk_pattern(punctuation: str, symbols: str, sentinels: bool) -> str:
    """Regex for everything that becomes a word break (rewritten as " ").

    Parameters
    ----------
    punctuation, symbols : str
        The corresponding :class:`CleanConfig` values; kept sentence marks
        and symbols are not junk.
    sentinels : bool
        Whether tag sentinels may be present (they are not junk either).

    Returns
    -------
    str
        The pattern.

    Notes
    -----
    The pattern has no capture group and the rewrite is a constant: RE2 then
    only runs its DFA, about 4x faster than when a group has to be written
    back, and this pass has one match per punctuation run of the text.
    Whitespace itself is left alone (the split squeezes runs of it), so text
    that is already clean is a plain scan.

    Alternatives, at each position:

    * a run of junk (anything not a letter, mark, number, whitespace,
      apostrophe or kept character), with the apostrophes before it and the
      apostrophes and (orphaned) combining marks inside and after it;
    * apostrophes next to whitespace or the ends of the text.

    An apostrophe between two word characters matches neither and survives.
    """
    keep_chars = r"\p{L}\p{M}\p{N}\t\n\f\r '" + _PROTECTED_DOT + _PROTECTED_COMMA
    if punctuation == "sentence":
        keep_chars += ".!?"
    if symbols == "keep":
        keep_chars += r"\p{S}"
    if sentinels:
        keep_chars += _SENTINEL_RANGE
    # Each class appears once: RE2 compiles every occurrence of a Unicode
    # class separately, and Arrow recompiles the pattern on every call.
    junk = f"[^{keep_chars}]"
    return rf"'*(?:{junk}[\p{{M}}']*)+|'+(?:\s+'*|$)|(?:^|\s)'+"


@functools.lru_cache(maxsize=1)
def _unicode_digit_classes() -> tuple[str, ...]:
    """RE2 character class of every non-ASCII decimal digit, per value 0-9.

    Computed on first use only (it scans the code space once, ~0.3 s).
    """
    by_value: list[list[str]] = [[] for _ in range(10)]
    for cp in range(0x80, 0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) == "Nd":
            by_value[unicodedata.digit(ch)].append(f"\\x{{{cp:X}}}")
    return tuple("[" + "".join(chars) + "]" for chars in by_value)


# ---------------------------------------------------------------------------
# Array helpers
# ---------------------------------------------------------------------------

_LARGE_THRESHOLD = 1 << 30  # bytes; leaves room for the passes to grow the text


def _as_string_array(lines: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return one non-null ``string``/``large_string`` array (nulls -> "")."""
    if isinstance(lines, pa.ChunkedArray):
        nbytes = lines.nbytes
        if pa.types.is_string(lines.type) and nbytes > _LARGE_THRESHOLD:
            lines = lines.cast(pa.large_string())
        lines = lines.combine_chunks() if lines.num_chunks != 1 else lines.chunk(0)
    if not isinstance(lines, pa.Array):
        raise TypeError(f"expected a pyarrow Array or ChunkedArray, got {type(lines).__name__}")
    # One layout whatever the input (string, large_string, string_view,
    # dictionary...): ``string`` so that the result is always list<string>,
    # unless the batch is too big for 32-bit offsets.
    target = pa.large_string() if lines.nbytes > _LARGE_THRESHOLD else pa.string()
    if lines.type != target:
        lines = lines.cast(target)
    if lines.null_count:
        lines = lines.fill_null("")
    return lines


_CHUNK_BYTES = 1 << 20
# Bytes at which a long row may be cut: every rule treats them as a word
# break, and no pattern matches across them.
_CUT_BYTES = np.array([0x20, 0x09, 0x0A], dtype=np.uint8)
_CUT_WINDOW = 1024


def _cut_long_rows(arr: pa.Array, chunk_bytes: int | None = None) -> tuple[pa.Array, np.ndarray | None]:
    """Cut rows longer than ``chunk_bytes`` into chunks at whitespace.

    Parameters
    ----------
    arr : pyarrow.Array
        Non-null ``string``/``large_string`` rows.
    chunk_bytes : int, optional
        Target chunk size (default ``_CHUNK_BYTES``, 1 MiB); a cut is made at
        the first space, tab or newline in the 1 KiB after each multiple of it
        (the whitespace ends the chunk).

    Returns
    -------
    chunks : pyarrow.Array
        Same type; a zero-copy view of the same data buffer with extra
        offsets, so chunk ``j`` of row ``r`` is a consecutive row.
    first_chunk : numpy.ndarray of int64 or None
        ``first_chunk[r]`` is the index of the first chunk of row ``r``
        (length ``len(arr) + 1``); None if no row was cut.

    Notes
    -----
    A single huge line (wiki17m is one 100 MB line) would otherwise be one
    string for every kernel: utf8_normalize allocates 4 bytes per code point
    for it, and the per-row fast paths (skip ASCII rows, skip rows without
    digits) could not skip anything. Every pass is local and sees whitespace
    as a break, so processing the chunks gives exactly the same tokens.
    """
    if chunk_bytes is None:
        chunk_bytes = _CHUNK_BYTES
    offs = _offsets(arr).astype(np.int64)
    lengths = np.diff(offs)
    long_rows = np.flatnonzero(lengths > chunk_bytes)
    if len(long_rows) == 0:
        return arr, None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    # Candidate cut targets: offs[r] + k * chunk_bytes for k = 1, 2, ...
    n_targets = (lengths[long_rows] - 1) // chunk_bytes
    target_row = np.repeat(long_rows, n_targets)
    first_target = np.cumsum(n_targets) - n_targets
    k = np.arange(len(target_row), dtype=np.int64) - np.repeat(first_target, n_targets) + 1
    targets = offs[target_row] + k * chunk_bytes
    # Look for whitespace only in a short window after each target (scanning
    # the whole text for spaces would cost more than the cut saves). A target
    # with no whitespace in its window is skipped: its chunk just grows.
    window = np.arange(_CUT_WINDOW, dtype=np.int64)
    probe = np.minimum(targets[:, None] + window, offs[target_row + 1, None] - 1)
    found = np.isin(data[probe], _CUT_BYTES)
    has_cut = found.any(axis=1)
    cuts = probe[has_cut, found[has_cut].argmax(axis=1)] + 1  # cut after the byte
    cut_row = target_row[has_cut]
    inside = cuts < offs[cut_row + 1]  # a row's last byte is not a cut
    cuts, cut_row = cuts[inside], cut_row[inside]
    keep = np.ones(len(cuts), dtype=bool)
    keep[1:] = cuts[1:] != cuts[:-1]  # two targets may find the same whitespace
    cuts, cut_row = cuts[keep], cut_row[keep]
    if len(cuts) == 0:
        return arr, None
    # Cuts lie strictly inside their rows, so a stable merge with the row
    # offsets (duplicates for empty rows included) is just a sort.
    new_offs = np.sort(np.concatenate([offs, cuts]), kind="stable")
    n_chunks = 1 + np.bincount(cut_row, minlength=len(arr))
    first_chunk = np.zeros(len(arr) + 1, dtype=np.int64)
    np.cumsum(n_chunks, out=first_chunk[1:])
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    chunks = pa.Array.from_buffers(
        arr.type,
        len(new_offs) - 1,
        [None, pa.py_buffer(new_offs.astype(width)), arr.buffers()[2]],
    )
    return chunks, first_chunk


def _map_rows(arr: pa.Array, mask: pa.Array, fn) -> pa.Array:
    """Apply ``fn`` only to the rows where ``mask`` is true.

    Most passes are no-ops on most rows (NFKC on ASCII rows, digit spelling
    on rows without digits); a cheap match kernel picks the rows that need
    the expensive kernel, and ``replace_with_mask`` scatters them back.
    """
    n_true = pc.sum(mask).as_py() or 0
    if n_true == 0:
        return arr
    if n_true == len(arr):
        return fn(arr)
    return pc.replace_with_mask(arr, mask, fn(arr.filter(mask)))


def _offsets(arr: pa.Array) -> np.ndarray:
    """Zero-copy view of the offsets of a (large_)string or (large_)list array."""
    width = np.int64 if (pa.types.is_large_string(arr.type) or pa.types.is_large_list(arr.type)) else np.int32
    buf = arr.buffers()[1]
    return np.frombuffer(buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]


def _list_from(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    """Build ``list<..>`` (or ``large_list`` when offsets need 64 bits)."""
    if offsets[-1] <= np.iinfo(np.int32).max:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32, copy=False)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets.astype(np.int64, copy=False)), values)


def _lists_parts(lists: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Row offsets (starting at 0) and the exactly matching flat values."""
    lo = _offsets(lists).astype(np.int64)
    values = lists.values.slice(int(lo[0]), int(lo[-1] - lo[0]))
    return lo - lo[0], values


def _drop_empty_tokens(lists: pa.Array) -> pa.Array:
    """Remove "" tokens, without copying any text.

    The tokens from a split are packed back to back in one data buffer, so an
    empty token is just a repeated offset: deleting it is deleting that offset.
    """
    lo, values = _lists_parts(lists)
    vo = _offsets(values)
    empty = np.flatnonzero(vo[1:] == vo[:-1])
    if len(empty) == 0:
        return lists
    new_vo = np.delete(vo, empty)
    new_values = pa.Array.from_buffers(values.type, len(new_vo) - 1, [None, pa.py_buffer(new_vo), values.buffers()[2]])
    # Each row loses the empty tokens that lie before its start offset.
    return _list_from(lo - np.searchsorted(empty, lo), new_values)


def _filter_tokens(lo: np.ndarray, values: pa.Array, keep: np.ndarray) -> pa.Array:
    """Keep the flat tokens where ``keep`` is true and rebuild the row offsets."""
    counts = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep.view(np.uint8), out=counts[1:])
    return _list_from(counts[lo], values.filter(pa.array(keep)))


# ---------------------------------------------------------------------------
# Text passes
# ---------------------------------------------------------------------------


def _spell_ascii_digits(arr: pa.Array) -> pa.Array:
    # Literal replacement is much faster than a regex and there are only ten.
    for digit, word in enumerate(DIGIT_WORDS):
        arr = pc.replace_substring(arr, str(digit), f" {word} ")
    return arr


def _spell_all_digits(arr: pa.Array) -> pa.Array:
    arr = _map_rows(arr, pc.match_substring_regex(arr, "[0-9]"), _spell_ascii_digits)

    def spell_unicode(sub: pa.Array) -> pa.Array:
        for cls, word in zip(_unicode_digit_classes(), DIGIT_WORDS, strict=True):
            sub = pc.replace_substring_regex(sub, cls, f" {word} ")
        return sub

    # Any \p{Nd} left now is a digit of another script (Arabic-Indic, Devanagari...).
    return _map_rows(arr, pc.match_substring_regex(arr, r"\p{Nd}"), spell_unicode)


def _text8(arr: pa.Array) -> pa.Array:
    """wikifil.pl character normalisation and split (see the module
    docstring), in one pass over the bytes (embedpipe.kernels.text8)."""
    token_bytes, token_offsets, row_tokens = text8_tokens(*string_buffers(arr))
    if pa.types.is_large_string(arr.type):
        token_offsets = token_offsets.astype(np.int64, copy=False)
    value_type = pa.large_string() if token_offsets.dtype == np.int64 else pa.string()
    values = pa.Array.from_buffers(
        value_type, len(token_offsets) - 1, [None, pa.py_buffer(token_offsets), pa.py_buffer(token_bytes)]
    )
    return _list_from(row_tokens, values)


def _protect_number_separators(arr: pa.Array, spell: bool) -> tuple[pa.Array, bool]:
    """Swap "." and "," between two ASCII digits for protected bytes.

    Parameters
    ----------
    arr : pyarrow.Array
        ``string``/``large_string`` without nulls.
    spell : bool
        With ``numbers="spell"`` the separators become spaces instead
        ("3.14" -> "3 14" -> "three one four", as text8 drops them).

    Returns
    -------
    arr : pyarrow.Array
        The text, same length in bytes and same offsets.
    changed : bool
        Whether any separator was protected.

    Notes
    -----
    RE2 has no look-around, so "a dot between two digits" cannot be
    rewritten by a regex without capture groups, which would make the
    punctuation pass 4x slower. Here it is a byte comparison in numpy on the
    UTF-8 buffer (ASCII bytes never occur inside multi-byte sequences), and
    the byte-for-byte swap keeps every offset valid. NFKC has already turned
    full-width digits into ASCII ones; separators between digits of other
    scripts are ordinary punctuation.
    """
    offs = _offsets(arr)
    lo, hi = int(offs[0]), int(offs[-1])
    if hi - lo < 3:
        return arr, False
    text = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[lo:hi]
    # "," (0x2C) and "." (0x2E) differ only in bit 1: one OR and one compare.
    # Scanned in blocks so the temporaries stay small (and in cache).
    found = [
        np.flatnonzero((text[start : min(start + _SCAN_BLOCK, len(text) - 1)] | 0x02) == 0x2E) + start
        for start in range(1, len(text) - 1, _SCAN_BLOCK)
    ]
    pos = np.concatenate(found)
    before = text[pos - 1] - np.uint8(0x30)  # wraps around below "0"
    after = text[pos + 1] - np.uint8(0x30)
    pos = pos[(before < 10) & (after < 10)]
    if len(pos):
        # The three bytes must lie in the same row.
        rel = offs.astype(np.int64) - lo
        pos = pos[np.searchsorted(rel, pos - 1, "right") == np.searchsorted(rel, pos + 1, "right")]
    if len(pos) == 0:
        return arr, False
    out = text.copy()
    if spell:
        out[pos] = 0x20
    else:
        out[pos] = np.where(text[pos] == 0x2E, ord(_PROTECTED_DOT), ord(_PROTECTED_COMMA))
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    new_offs = (offs.astype(np.int64) - lo).astype(width)
    protected = pa.Array.from_buffers(arr.type, len(arr), [None, pa.py_buffer(new_offs), pa.py_buffer(out)])
    return protected, not spell


def _normalise_text(arr: pa.Array, opts: CleanConfig) -> tuple[pa.Array, bool]:
    """Character-level passes of the general pipeline (steps 1-7).

    Returns the text ready for the whitespace split, and whether number
    separators were protected (to be restored on the tokens).
    """

    def non_ascii_pass(sub: pa.Array) -> pa.Array:
        if opts.normalize:
            sub = pc.utf8_normalize(sub, "NFKC")
        # Invisible characters that would only make distinct spellings of
        # the same word: soft hyphens and the emoji/text presentation
        # selectors (VS15, VS16, e.g. "❤️" -> "❤").
        for invisible in ("\u00ad", "\ufe0e", "\ufe0f"):
            sub = pc.replace_substring(sub, invisible, "")
        return pc.replace_substring(sub, "\u2019", "'")

    # NFKC, invisible characters and "’" only concern non-ASCII rows.
    arr = _map_rows(arr, pc.invert(pc.string_is_ascii(arr)), non_ascii_pass)

    items = ("urls", "emails", "mentions", "hashtags")
    tagged = [name for name in items if getattr(opts, name) == "tag"]
    if tagged:
        # The input must not contain the sentinels, or it could forge tags.
        sentinel_cls = f"[{_SENTINEL_RANGE}]"
        arr = _map_rows(
            arr,
            pc.match_substring_regex(arr, sentinel_cls),
            lambda sub: pc.replace_substring_regex(sub, sentinel_cls, " "),
        )

    def items_pass(sub: pa.Array) -> pa.Array:
        if not tagged:
            # All four dropped in one pass; group 1 is the character in
            # front of a mention/hashtag (few matches, so the capture group
            # costs little here).
            return pc.replace_substring_regex(sub, _ALL_ITEMS_DROP, r"\1 ")
        for name, pattern in (
            ("urls", _URL),
            ("emails", _EMAIL),
            ("mentions", _ITEM_CTX + _MENTION),
            ("hashtags", _ITEM_CTX + _HASHTAG),
        ):
            token = f" {_SENTINEL[name]} " if name in tagged else " "
            rewrite = (r"\1" if name in ("mentions", "hashtags") else "") + token
            sub = pc.replace_substring_regex(sub, pattern, rewrite)
        return sub

    arr = _map_rows(arr, pc.match_substring_regex(arr, _ITEM_HINT), items_pass)

    if opts.lowercase:
        arr = pc.utf8_lower(arr)

    # The protected bytes must not come from the input itself.
    for byte in (_PROTECTED_DOT, _PROTECTED_COMMA):
        arr = pc.replace_substring(arr, byte, " ")
    arr, protected = _protect_number_separators(arr, spell=opts.numbers == "spell")
    if opts.numbers == "spell":
        arr = _spell_all_digits(arr)

    isolate = _isolate_pattern(opts.punctuation, opts.symbols)
    if isolate is not None:
        if opts.symbols == "keep":
            # Skin-tone modifiers are symbols too; keep the base emoji only.
            arr = pc.replace_substring_regex(arr, r"[\x{1F3FB}-\x{1F3FF}]", "")
        # Before the junk pass, so that apostrophes next to a kept mark or
        # symbol now touch whitespace and are removed by it.
        arr = pc.replace_substring_regex(arr, isolate, r" \0 ")
    junk = _junk_pattern(opts.punctuation, opts.symbols, bool(tagged))
    return pc.replace_substring_regex(arr, junk, " "), protected


def _restore_number_separators(values: pa.Array) -> pa.Array:
    """Swap the protected bytes in the tokens back to "." and ",".

    A byte swap in numpy on the token buffer: two ``replace_substring`` calls
    would cost ~25 ns per token each, this costs a copy of the bytes.
    """
    vo = _offsets(values)
    lo, hi = int(vo[0]), int(vo[-1])
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[lo:hi]
    # Bytes 0x01/0x02 can only be protected separators: the input's own were
    # replaced before protection, and NUL bytes are junk.
    pos = np.flatnonzero(data < 3)
    if len(pos) == 0:
        return values
    out = data.copy()
    out[pos] = np.where(data[pos] == ord(_PROTECTED_DOT), 0x2E, 0x2C)
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    new_vo = (vo.astype(np.int64) - lo).astype(width)
    return pa.Array.from_buffers(values.type, len(values), [None, pa.py_buffer(new_vo), pa.py_buffer(out)])


def _token_passes(lists: pa.Array, opts: CleanConfig, protected: bool) -> pa.Array:
    """Token-level steps (after the split).

    In order: number separators swapped back, sentence-mark runs reduced to
    their first mark, numeric tokens found (dropped or tagged), stopwords and
    short tokens removed, tags spelled out.
    """
    lo, values = _lists_parts(lists)
    n = len(values)
    if n == 0:
        return lists
    changed = False
    if protected:
        values = _restore_number_separators(values)
        changed = True

    if opts.punctuation == "sentence" or opts.numbers in ("drop", "token"):
        vo = _offsets(values)
        data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
        first = data[vo[:-1]]  # first byte of each token (never empty here)

    if opts.punctuation == "sentence":
        # A run such as "..." or "?!" was isolated whole; keep its first mark.
        runs = np.flatnonzero(((first == 0x2E) | (first == 0x21) | (first == 0x3F)) & (np.diff(vo) > 1))
        if len(runs):
            mask = np.zeros(n, dtype=bool)
            mask[runs] = True
            heads = pc.utf8_slice_codeunits(values.take(pa.array(runs)), 0, 1)
            values = pc.replace_with_mask(values, pa.array(mask), heads)
            changed = True

    keep = np.ones(n, dtype=bool)
    numeric: np.ndarray | None = None
    if opts.numbers in ("drop", "token"):
        # Only tokens starting with an ASCII digit or a non-ASCII byte can be
        # numbers; the regex runs on those candidates only.
        cand = np.flatnonzero(((first >= 0x30) & (first <= 0x39)) | (first >= 0x80))
        numeric = np.zeros(n, dtype=bool)
        if len(cand):
            hits = pc.match_substring_regex(values.take(pa.array(cand)), _NUMBER_TOKEN)
            numeric[cand[np.asarray(hits, dtype=bool)]] = True
        if opts.numbers == "drop":
            keep &= ~numeric

    if opts.stopwords:
        words = values if opts.lowercase else pc.utf8_lower(values)
        stop = pa.array(sorted(STOPWORDS), type=values.type)
        keep &= ~np.asarray(pc.is_in(words, value_set=stop), dtype=bool)

    if opts.min_token_length > 1:
        short = np.asarray(pc.utf8_length(values)) < opts.min_token_length
        short_idx = np.flatnonzero(short & keep)
        if len(short_idx):
            # Tags, sentence marks and symbols have no letter, mark or digit;
            # they are exempt, and so are numbers about to become "<num>".
            has_word = pc.match_substring_regex(values.take(pa.array(short_idx)), r"[\p{L}\p{M}\p{N}]")
            drop = np.asarray(has_word, dtype=bool)
            if numeric is not None and opts.numbers == "token":
                drop &= ~numeric[short_idx]
            keep[short_idx[drop]] = False

    if not keep.all():
        lists = _filter_tokens(lo, values, keep)
        lo, values = _lists_parts(lists)
        changed = False
        if numeric is not None:
            numeric = numeric[keep]

    # Spell the tags: numeric tokens (numbers="token") and sentinel tokens
    # become "<num>", "<url>" ... in one replace_with_mask pass.
    tag_names = [name for name in _SENTINEL if getattr(opts, name) == "tag"]
    want_num = opts.numbers == "token" and numeric is not None and bool(numeric.any())
    if tag_names or want_num:
        code = np.full(len(values), -1, dtype=np.int64)
        if tag_names:
            # A sentinel token is exactly the 3 UTF-8 bytes EE 80 81..84.
            vo = _offsets(values)
            data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
            idx = np.flatnonzero(np.diff(vo) == 3)
            start = vo[idx]
            b2 = data[start + 2]
            is_tag = (data[start] == 0xEE) & (data[start + 1] == 0x80) & (b2 >= 0x81) & (b2 <= 0x84)
            code[idx[is_tag]] = b2[is_tag].astype(np.int64) - 0x81
        if want_num:
            code[numeric] = 4
        mask = code >= 0
        if mask.any():
            names = [TAG_TOKENS[name] for name in (*_SENTINEL, "numbers")]
            replacement = pa.array(names, type=values.type).take(pa.array(code[mask]))
            values = pc.replace_with_mask(values, pa.array(mask), replacement)
            changed = True
    return _list_from(lo, values) if changed else lists


def _split(text: pa.Array) -> pa.Array:
    """Whitespace split into ``list<string>`` without empty tokens."""
    # Trimming first (cheap) leaves empty tokens only for empty rows, one
    # each, instead of one at either end of most rows.
    return _drop_empty_tokens(pc.ascii_split_whitespace(pc.ascii_trim_whitespace(text)))


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def clean_tokens(lines: pa.Array | pa.ChunkedArray, opts: CleanConfig) -> pa.ListArray:
    """Clean and tokenize raw text lines with vectorized Arrow kernels.

    Parameters
    ----------
    lines : pyarrow.Array or pyarrow.ChunkedArray
        ``string`` or ``large_string`` (other string layouts are cast), one
        line of text per row. Null rows are allowed.
    opts : CleanConfig
        Cleaning options; the rules are described in the module docstring.

    Returns
    -------
    pyarrow.ListArray
        One ``list<string>`` of tokens per input row, same length and order
        as ``lines``; a null, empty or all-junk line gives an empty list.
        ``list<large_string>`` for inputs over 1 GiB, and a
        ``LargeListArray`` beyond 2**31 - 1 tokens.

    Examples
    --------
    >>> import pyarrow as pa
    >>> clean_tokens(pa.array(["Don't panic, it's 1984!"]), CleanConfig()).to_pylist()
    [["don't", 'panic', "it's", '1984']]
    """
    arr = _as_string_array(lines)
    if len(arr) == 0:
        return pa.array([], type=pa.list_(arr.type))
    if opts.preset == "text8":
        # One pass over the bytes, whatever the row lengths: no chunking.
        return _text8(arr)
    arr, first_chunk = _cut_long_rows(arr)
    text, protected = _normalise_text(arr, opts)
    # The junk pass turned every non-ASCII space into " ", so an ASCII
    # split is enough (and about twice as fast as utf8_split_whitespace).
    lists = _token_passes(_split(text), opts, protected)
    if first_chunk is not None:
        # Glue the chunks of each row back together: the tokens of a row are
        # the concatenation of its chunks' tokens, already adjacent.
        lo, values = _lists_parts(lists)
        lists = _list_from(lo[first_chunk], values)
    return lists


def given_tokens(lists: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Token lists taken as they are (no cleaning), only made fit for the ``tokens`` table.

    An ``array<string>`` column of tokens (a Spark ML ``Tokenizer``'s output)
    keeps its tokens, so a model trained on it knows exactly the words a
    later ``transform`` looks up. Only what the ``tokens`` table cannot
    hold changes: a token with whitespace inside becomes the tokens between
    it (the table joins tokens with spaces), and null or empty tokens and
    null rows count as nothing.

    Parameters
    ----------
    lists : pyarrow.Array or pyarrow.ChunkedArray of list<string>

    Returns
    -------
    pyarrow.ListArray
        One ``list<string>`` per input row, same length and order.

    Examples
    --------
    >>> given_tokens(pa.array([["Hello,", "new york", ""], None])).to_pylist()
    [['Hello,', 'new', 'york'], []]
    """
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks() if lists.num_chunks != 1 else lists.chunk(0)
    if not (pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type)):
        raise TypeError(f"expected a list array of tokens, got {lists.type}")
    n = len(lists)
    flat = pc.list_flatten(lists)  # null rows contribute nothing
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    # Each token is split on whitespace (the empty ones vanish), then the
    # rows are rebuilt from how many tokens each of their tokens became.
    parts = _split(_as_string_array(flat)) if len(flat) else pa.array([], pa.list_(pa.string()))
    per_token = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent, weights=per_token, minlength=n).astype(np.int64), out=offsets[1:])
    values = pc.list_flatten(parts)
    if not len(values):
        values = pa.array([], pa.string())
    return _list_from(offsets, values)


def split_pieces(
    tokens: pa.ListArray | pa.LargeListArray | pa.ChunkedArray, max_len: int
) -> tuple[pa.ListArray, np.ndarray, np.ndarray]:
    """Split every token list into consecutive pieces of at most ``max_len`` tokens.

    Vectorized on the list offsets: the token values are shared, not copied
    (except to drop the contents of null rows).

    Parameters
    ----------
    tokens : pyarrow.ListArray, LargeListArray or ChunkedArray of lists
        Token lists, e.g. from :func:`clean_tokens`. Null rows count as empty.
    max_len : int
        Maximum number of tokens per piece (>= 1).

    Returns
    -------
    pieces : pyarrow.ListArray
        The pieces, in row order then piece order; a row of ``n`` tokens
        gives ``ceil(n / max_len)`` pieces, all full except possibly the
        last; empty rows give none. ``LargeListArray`` if the input was one.
    line_index : numpy.ndarray of int64
        For each piece, the index of its source row in ``tokens``.
    piece_number : numpy.ndarray of int32
        For each piece, its 0-based position within its source row.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    max_len = int(max_len)
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks != 1 else tokens.chunk(0)
    large = pa.types.is_large_list(tokens.type)
    if not (pa.types.is_list(tokens.type) or large):
        raise TypeError(f"expected a list array, got {tokens.type}")

    lo, values = _lists_parts(tokens)
    lengths = np.diff(lo)
    if tokens.null_count:
        valid = np.asarray(tokens.is_valid(), dtype=bool)
        if lengths[~valid].any():
            # Null rows that still span values: drop those values so that the
            # remaining rows tile the value array without gaps.
            values = values.filter(pa.array(np.repeat(valid, lengths)))
        lengths = np.where(valid, lengths, 0)
        lo = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=lo[1:])

    n_pieces = -(-lengths // max_len)  # ceil division; 0 for empty rows
    total = int(n_pieces.sum())
    line_index = np.repeat(np.arange(len(lengths), dtype=np.int64), n_pieces)
    first_piece = np.cumsum(n_pieces) - n_pieces
    piece_number = np.arange(total, dtype=np.int64) - np.repeat(first_piece, n_pieces)
    # Pieces tile the values in order, so their offsets are just the starts
    # plus the final end.
    piece_offsets = np.empty(total + 1, dtype=np.int64)
    piece_offsets[:-1] = lo[line_index] + piece_number * max_len
    piece_offsets[-1] = lo[-1]
    if large:
        pieces = pa.LargeListArray.from_arrays(pa.array(piece_offsets), values)
    else:
        pieces = _list_from(piece_offsets, values)
    return pieces, line_index, piece_number.astype(np.int32)
