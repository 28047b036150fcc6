"""The word lists of cleaning: stopwords, negations, and the spelling of tag tokens."""

from __future__ import annotations

#: Negations; never stopwords, whatever list is used.
NEGATIONS: frozenset[str] = frozenset(
    {
        "no", "not", "nor", "never", "none", "nobody", "nothing", "nowhere", "neither",
        "cannot", "can't", "won't", "don't", "doesn't", "didn't", "isn't", "aren't",
        "wasn't", "weren't", "hasn't", "haven't", "hadn't", "shouldn't", "wouldn't",
        "couldn't", "mustn't", "mightn't", "needn't", "shan't", "ain't", "n't",
    }
)  # fmt: skip

# A conventional English function-word list (close to NLTK's), minus the
# negations and minus the fragments ("don", "isn", "t", "s" ...) that only a
# tokenizer splitting at apostrophes would produce; ours keeps "don't" whole.
_STOPWORDS_BASE = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he he'd he'll he's her here here's hers herself him himself his how how's
i i'd i'll i'm i've if in into is it it's its itself let's me more most my myself of off on
once only or other ought our ours ourselves out over own same she she'd she'll she's should
so some such than that that's the their theirs them themselves then there there's these they
they'd they'll they're they've this those through to too under until up very was we we'd
we'll we're we've were what what's when when's where where's which while who who's whom why
why's will with would you you'd you'll you're you've your yours yourself yourselves
"""

#: Built-in English stopword list used by ``clean.stopwords: true``.
STOPWORDS: frozenset[str] = frozenset(
    w for w in _STOPWORDS_BASE.split() if w not in NEGATIONS and not w.endswith("n't")
)

#: Final spelling of the tag tokens.
TAG_TOKENS: dict[str, str] = {
    "urls": "<url>",
    "emails": "<email>",
    "mentions": "<mention>",
    "hashtags": "<hashtag>",
    "numbers": "<num>",
}
