"""Abbreviations defined in a text (`long form (SF)`), found with Schwartz & Hearst's (2003) rule.

Travels to the Hub with the model (standard library only). Two users:

* linking (`find_abbreviations`): a span `DMD` is linked through `Duchenne muscular dystrophy`;
* tagging (`resolve_abbreviations`): a short form is an entity exactly when its long form is one. A sentence
  such as "PREGS improved memory" gives the model no clue that PREGS is a chemical; the sentence that defined
  it ("pregnenolone sulfate (PREGS)") does. Corpora annotate every occurrence of a short form like its long
  form, so the tag decided at the definition is copied to the short form's later occurrences in the same text.
"""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ["best_long_form", "is_short_form", "find_abbreviations", "word_abbreviations", "resolve_abbreviations"]

O, B, I = 0, 1, 2
_PAREN = re.compile(r"\(([^()]{1,60})\)")
_SHORT_FORM_ENDS = frozenset({")", ";", ","})  # `(SF)`, `(SF; MIM 158350)`, `(SF, OMIM ...)`


def is_short_form(short: str) -> bool:
    """Could `short` abbreviate something: 2-10 characters, starting with a letter or digit, with a letter."""
    return 2 <= len(short) <= 10 and short[0].isalnum() and any(ch.isalpha() for ch in short)


def best_long_form(short: str, words_before: Sequence[str]) -> str | None:
    """Schwartz & Hearst (2003): the shortest run of preceding words whose characters contain the short form's
    letters/digits in order, the first one starting a word."""
    max_words = min(len(short) + 5, 2 * len(short))
    candidate = " ".join(words_before[-max_words:])
    s, l = len(short) - 1, len(candidate) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while l >= 0 and (candidate[l].lower() != c or (s == 0 and l > 0 and candidate[l - 1].isalnum())):
            l -= 1
        if l < 0:
            return None
        l -= 1
        s -= 1
    start = candidate.rfind(" ", 0, l + 1) + 1
    long_form = candidate[start:].strip(" ,;:")
    if len(long_form) <= len(short) or short.lower() in long_form.lower().split():
        return None
    return long_form


def find_abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form for the `long form (SF)` definitions in `text` (first definition wins).

    For linking a span such as `DMD` with its document: `abbreviations.get(span, span)` gives the text to link.
    """
    out: dict[str, str] = {}
    for match in _PAREN.finditer(text):
        short = re.split(r"[;,]", match.group(1), maxsplit=1)[0].strip()  # `(CD; MIM 158350)`, `(WFS, OMIM ...)`
        if not is_short_form(short) or len(short.split()) > 2 or short in out:
            continue
        long_form = best_long_form(short, text[: match.start()].split())
        if long_form:
            out[short] = long_form
    return out


def word_abbreviations(words: Sequence[str]) -> list[tuple[int, str]]:
    """`(index of "(", short form)` for each `long form ( SF )` definition in a tokenised sentence, where the short
    form is one word (as `processing_vaner.split_words` and the corpora tokenise) and has a Schwartz-Hearst long
    form just before the bracket."""
    found = []
    for paren in range(1, len(words) - 2):
        short = words[paren + 1]
        if (words[paren] == "(" and words[paren + 2] in _SHORT_FORM_ENDS and is_short_form(short)
                and best_long_form(short, words[:paren])):
            found.append((paren, short))
    return found


def resolve_abbreviations(
    sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[int]], reach: int | None = None
) -> list[list[int]]:
    """O/B/I tags of a text's sentences (in order) with every short form tagged as its long form is.

    At a definition `long form ( SF )` the long form counts as an entity when the word before the bracket is
    tagged B or I. Then each occurrence of `SF` (or its plural `SFs`) in the defining sentence and in the next
    `reach` sentences (`None`: the rest of the text) becomes a one-word entity (B) if it was O, or O if it was a
    one-word entity and the long form is not an entity. An occurrence inside a longer span is left alone. Later
    definitions are applied after earlier ones.
    """
    if len(sentences) != len(tags) or any(len(w) != len(t) for w, t in zip(sentences, tags)):
        raise ValueError("resolve_abbreviations: sentences and tags differ in shape")
    resolved = [list(sentence_tags) for sentence_tags in tags]
    for index, words in enumerate(sentences):
        for paren, short in word_abbreviations(words):
            long_form_is_entity = resolved[index][paren - 1] != O
            end = len(sentences) if reach is None else min(len(sentences), index + reach + 1)
            for later in range(index, end):
                _tag_short_form(sentences[later], resolved[later], {short, short + "s"}, long_form_is_entity)
    return resolved


def _tag_short_form(words: Sequence[str], tags: list[int], forms: set[str], is_entity: bool) -> None:
    for k, word in enumerate(words):
        if word not in forms:
            continue
        one_word_entity = tags[k] == B and (k + 1 == len(words) or tags[k + 1] != I)
        if is_entity and tags[k] == O:
            tags[k] = B
        elif not is_entity and one_word_entity:
            tags[k] = O
