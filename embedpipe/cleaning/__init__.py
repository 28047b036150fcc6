"""Vectorized text cleaning and tokenization over Arrow string arrays.

The ingest stage calls :func:`clean_tokens` inside Spark's ``mapInArrow`` on
every record batch of raw text lines, so everything here is written as a short
sequence of whole-array ``pyarrow.compute`` kernels (RE2 regular expressions,
``utf8_normalize``, ``utf8_lower``, ``ascii_split_whitespace``) plus numpy on
offset buffers. There is no Python loop per row or per token: the cost of a
batch is a fixed number of passes over its bytes, so a single 100 MB line is
as cheap as a million short ones.

This module imports only pyarrow, numpy and the standard library (no pyspark)
so that it can be tested and benchmarked without a Spark session.

Tokenization rules (``preset="none"``)
--------------------------------------
The pipeline runs, in this order:

1. **NFKC** (``normalize=True``): ligatures ("ﬁ" -> "fi"), full-width forms
   ("１２" -> "12"), no-break spaces, superscripts, "…" -> "...". Whether or
   not ``normalize`` is set, soft hyphens (U+00AD, invisible hyphenation
   hints, not word breaks) and the presentation selectors U+FE0E/U+FE0F are
   deleted, and the typographic apostrophe "’" (U+2019) becomes "'".
2. **URLs, e-mails, @mentions, #hashtags**, before punctuation removal could
   destroy them. URLs need a scheme (``http://``, ``https://``, ``ftp://``) or
   a leading ``www.``; bare domains such as "example.com" are ordinary text
   ("example" "com"). E-mail addresses are recognised in ASCII form
   ("first.last+x@mail.example.org"). A mention is ``@`` plus letters,
   digits or "_" not preceded by a word character; a hashtag is ``#`` plus a
   word that contains at least one letter ("C#" and "#1" are not hashtags).
   "drop" removes them, "tag" replaces each by one token "<url>", "<email>",
   "<mention>" or "<hashtag>".
3. **Lower-casing** (``lowercase=True``), full Unicode ("É" -> "é").
4. **Numbers.** A number is a token made of digits with optional inner
   "." or "," groups ("1984", "3.14", "1,000,000"): a "." or "," between two
   ASCII digits is part of the number, not punctuation. Digits glued to
   letters make a word, not a number ("mp3", "1980s", "2nd", "1.5km", "v1.2"
   stay as they are under keep, drop and token). ``keep`` keeps numbers as
   tokens ("3.14" stays one token), ``drop`` removes numeric tokens,
   ``token`` replaces each by "<num>", ``spell`` replaces *every* decimal
   digit, also inside words and in any script, by its English name, text8
   style ("1984" -> "one nine eight four", "1980s" -> "one nine eight zero
   s", "3.14" -> "three one four").
5. **Punctuation** (Unicode ``\\p{P}``) becomes a word break: hyphenated and
   slashed words are split ("state-of-the-art" -> "state" "of" "the" "art",
   "and/or" -> "and" "or"). With ``punctuation="sentence"`` each run of
   ". ! ?" becomes one token, its first character ("Really?!" -> "really"
   "?", "Wait..." -> "wait" "."); abbreviations are not special ("U.S." ->
   "u" "." "s" ".").
   **Apostrophes** between two word characters (letters, marks or digits) are
   kept inside the token: "don't" -> "don't", "O'Brien" -> "o'brien",
   "rock'n'roll" stays one token. Any other apostrophe (quotes, a trailing
   possessive as in "students'") is removed.
6. **Symbols** (``\\p{S}``: "©", "€", "+", "<", emoji). ``drop`` turns them
   into word breaks, ``keep`` makes each one its own token, with any
   combining marks that follow it. Skin-tone modifiers are dropped ("👍🏽" ->
   "👍", and "❤️" -> "❤" by step 1), a pair of regional indicators is one
   flag token ("🇺🇸"), but zero-width-joiner sequences ("👨‍👩‍👧") become one
   token per emoji.
7. Everything else that is not a letter (``\\p{L}``), mark (``\\p{M}``) or
   number (``\\p{N}``), e.g. control and format characters, private-use
   characters and all Unicode spaces, is a word break. Letters of every
   script are kept ("é", "ß", "москва", "東京").
8. **Whitespace split**, then **stopwords** (a built-in English list,
   :data:`STOPWORDS`, matched case-insensitively; it never contains the
   negations in :data:`NEGATIONS` nor any "n't" form), then
   **min_token_length** (in characters). Tag, sentence-mark and symbol tokens
   are exempt from the length filter; words and kept numbers are not.

For speed, steps 4-7 are fused: number separators are protected by a numpy
byte swap, kept sentence marks and symbols are isolated by one regex pass,
and everything else that is not part of a word is turned into a space by a
single capture-group-free regex pass; ``numbers="drop"``/``"token"`` then act
on the numeric tokens after the split. The result is the same as running the
steps one by one in the order above.

Tags survive the punctuation and symbol passes because they are written as
single private-use "sentinel" characters (U+E001-U+E004) that no later pass
removes, and only mapped to their final "<url>"-style spelling on the token
array at the very end. Private-use characters already present in the input
are removed first, so the text itself cannot forge a tag.

Preset ``"text8"``
------------------
The character normalisation of Matt Mahoney's ``wikifil.pl`` (used to build
text8): ASCII upper case to lower case, each digit 0-9 to " zero " ...
" nine ", every other character that is not a-z (including accented and
non-Latin letters, byte for byte) to a space, then split on spaces. It is the
identity on text already in text8 form. The wiki-markup stripping of
``wikifil.pl`` is not reproduced. All other options (``normalize``,
``lowercase``, ``numbers`` ...) are ignored with this preset. It runs as one
compiled pass over the bytes (``embedpipe.kernels.text8``), not as Arrow
passes, and needs none of the chunking below.

Sizes
-----
Inputs are processed as ``string`` (``large_string`` and other string
layouts are cast), so the result is ``list<string>``. ``string`` has 32-bit
offsets, which limits a batch to 2 GiB of text: inputs over 1 GiB are
processed as ``large_string`` instead (the replacement passes can grow the
text) and the result is then ``list<large_string>``. A 100 MB single line is
fine as ``string``.

Except with the text8 preset, rows longer than 1 MiB are processed as ~1 MiB chunks cut after a space,
tab or newline (a zero-copy view with extra offsets) and glued back
together at the end. Every rule treats whitespace as a break, so the tokens
are the same; it keeps memory flat (NFKC needs 4 bytes per code point of a
string) and lets the per-row fast paths (skip ASCII rows for NFKC, skip rows
without digits) work inside one huge line.
"""

from __future__ import annotations

from embedpipe.cleaning.passes import clean_tokens, given_tokens, split_pieces
from embedpipe.cleaning.wordlists import NEGATIONS, STOPWORDS, TAG_TOKENS

__all__ = ["NEGATIONS", "STOPWORDS", "TAG_TOKENS", "clean_tokens", "given_tokens", "split_pieces"]
