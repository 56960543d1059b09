"""Query parsing into wanted (Q+) and unwanted (Q−) concepts (PolarMem §3.4).

With a language model: ask for JSON ``{"positive": [...], "negative": [...]}`` (the released code's
prompt, shortened). Without one, or when its output is unusable, a rule-based parser handles the usual
negation cues: "no", "not", "without", "except", "but not", "excluding", "that doesn't have", "with no",
"free of", "other than", "minus", "lacking", "absent"... Every parse also returns the *positive-only*
text to embed, so that "no person" does not pull the query vector toward people.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from vimrag.errors import ServerUnreachableError, VimragError
from vimrag.models.base import Message
from vimrag.polar.concepts import normalize_concept

_log = logging.getLogger(__name__)

_PROMPT = (
    "Extract the key visual concepts of this retrieval query.\n"
    "- positive: objects or things the result SHOULD contain (short nouns, 1-3 words).\n"
    "- negative: things the query explicitly says must NOT be there ([] if none).\n"
    'Output only JSON: {{"positive": [...], "negative": [...]}}\n\nQuery: {query}\nJSON:'
)
_SCHEMA = {
    "type": "object",
    "properties": {"positive": {"type": "array", "items": {"type": "string"}},
                   "negative": {"type": "array", "items": {"type": "string"}}},
    "required": ["positive", "negative"],
}

# "Nobody" and "no one" negate a person and carry no noun of their own: the words after them up to the
# clause boundary say what the absent person would do ("nobody riding it", "no one around"), not further
# unwanted things, so the negated span of such a cue is just "person".
_NO_PERSON = r"(?:(?:with|and|but) )?(?:nobody|no[- ]?one)"  # longer than "with no": "with no one around"
_NO_PERSON_RE = re.compile(_NO_PERSON + r"$")
# Cues that open a negated span; the span runs to the next positive cue / clause boundary.
_NEG_CUES = [
    _NO_PERSON,
    r"that (?:does|do|did) ?n[o']t (?:have|contain|show|include|feature)",
    r"which (?:does|do|did) ?n[o']t (?:have|contain|show|include|feature)",
    r"(?:does|do|did) ?n[o']t (?:have|contain|show|include|feature)",
    r"(?:is|are) not", r"(?:isn't|aren't)", r"with no", r"with ?out", r"but not", r"and not", r"but no",
    r"and no", r"except(?: for)?", r"excluding", r"exclude", r"free of", r"other than", r"apart from",
    r"minus", r"lacking", r"absent", r"no longer", r"not", r"never", r"no", r"none of", r"neither", r"nor",
    r"without any", r"sans", r"w/o",
]
_NEG_RE = re.compile(r"\b(?:" + "|".join(sorted(_NEG_CUES, key=len, reverse=True)) + r")\b")
_BOUNDARY_RE = re.compile(r"\s*(?:[,;.?!()]|\bbut\b(?! not| no)|\bwhile\b|\bwhere\b|\bthat (?:has|have|shows?|contains?)\b|"
                          r"\bwith\b(?! no| ?out)|\bwhich (?:has|have)\b|\band (?:a|an|the|some)\b|\bin which\b)\s*")
_STOP = {
    "a", "an", "the", "some", "any", "of", "in", "on", "at", "to", "for", "with", "by", "from", "and", "or",
    "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "there",
    "here", "which", "who", "what", "where", "when", "how", "why", "find", "show", "me", "give", "get",
    "search", "look", "looking", "want", "need", "please", "i", "we", "you", "image", "images", "photo",
    "photos", "picture", "pictures", "pic", "one", "ones", "has", "have", "having", "contain", "contains",
    "containing", "showing", "shows", "featuring", "include", "includes", "including", "visible",
    "also", "only", "just", "all", "every", "each", "can", "could", "would", "should", "do", "does", "did",
    "about", "into", "over", "under", "near", "next", "inside", "outside", "very", "more", "most", "other",
    "something", "anything", "thing", "things", "single", "both", "either", "my", "our", "their",
    "his", "her", "them", "they", "he", "she", "us", "as", "like", "up", "out", "then", "than", "so", "too",
    "return", "retrieve", "display", "list", "frame", "frames", "scene", "scenes", "shot", "view", "page",
    "pages", "document", "slide", "slides", "video", "clip", "people's", "somewhere", "sitting", "standing",
    "lying", "kind", "type", "sort", "around", "aboard", "nearby", "sight", "anywhere", "whatsoever",
    "absolutely", "definitely", "really", "certainly", "clearly", "preferably", "ideally", "strictly",
}
# Words kept as concepts even though they name the medium ("slide", "page"...) when they are the only noun.
_SPLIT_RE = re.compile(
    r"\s*(?:,|\bor\b|\band\b|\bbut\b|&|/|\bnor\b|\bplus\b|\bof\b|\bon\b|\bin\b|\bat\b|\bwith\b|\bnear\b|\bby\b|"
    r"\bunder\b|\bover\b|\bbeside\b|\bbehind\b|\bnext to\b|\binside\b|\bholding\b|\briding\b|\bwearing\b|"
    r"\beating\b|\bfrom\b|\bto\b|\bfor\b|\bagainst\b|\babove\b|\bbelow\b|\bbetween\b)\s*"
)


@dataclass
class ParsedQuery:
    """Q+ and Q− (normalized concept names) and the positive-only text to embed."""

    text: str
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    embed_text: str = ""
    parser: str = "rules"


def _phrases(span: str) -> list[str]:
    out: list[str] = []
    for part in _SPLIT_RE.split(span):
        words = [w for w in re.findall(r"[a-z][a-z0-9'\-]*", part) if w not in _STOP and len(w) > 1]
        while words and words[0] in {"no", "not", "any"}:
            words = words[1:]
        if not words:
            continue
        phrase = normalize_concept(" ".join(words[-3:]))
        if phrase and phrase not in out:
            out.append(phrase)
    return out


def _quoted_ranges(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[\"“”][^\"“”]{1,120}[\"“”]", text)]


def _is_title_word(text: str, at: int, quoted: list[tuple[int, int]]) -> bool:
    """A cue inside quotes or capitalised inside the sentence names something ("Never Cry Wolf", "A Man
    Without Love"); it negates nothing. Measured on HotpotQA: such cues turned titles into unwanted concepts.
    A cue in capitals ("dog NOT person") is an operator, not a title word."""
    if any(a <= at < b for a, b in quoted):
        return True
    word = re.match(r"[A-Za-z]+", text[at:])
    if word and len(word.group(0)) > 1 and word.group(0).isupper():  # "dog NOT person": an operator
        return False
    before = text[:at].rstrip()
    return text[at : at + 1].isupper() and bool(before) and before[-1] not in ".!?:;"


# Negations written on the word itself: "a car-free street", "dog -person" (search-engine syntax).
_ATTACHED_NEG_RE = re.compile(r"\b([a-z][a-z0-9']*)-free\b|(?<!\S)-([a-z][a-z0-9']*)")


def _attached_negations(text: str, low: str) -> tuple[str, str, list[str]]:
    """The words negated by an attached "-free" or a leading "-": ``low`` with those spans blanked (same
    length, so positions still match ``text``), ``text`` with the "-word" spans blanked (what may be
    embedded: "-person" would embed a person; "car-free street" embeds as the compound it is), the words."""
    words: list[str] = []
    shown = list(text)
    for m in _ATTACHED_NEG_RE.finditer(low):
        words.append(m.group(1) or m.group(2))
        if m.group(2):
            shown[m.start() : m.end()] = " " * (m.end() - m.start())
    return _ATTACHED_NEG_RE.sub(lambda m: " " * len(m.group(0)), low), "".join(shown), words


def parse_rules(query: str) -> ParsedQuery:
    """Rule-based Q+/Q− split. Each negation cue negates the span up to the next clause boundary."""
    text = " ".join(query.strip().split())
    low, shown, attached = _attached_negations(text, text.lower().replace("’", "'"))
    pos_spans: list[str] = []
    neg_spans: list[str] = []
    i = 0
    keep: list[str] = []  # the positive spans in the user's own casing and punctuation (what is embedded)
    quoted = _quoted_ranges(text)
    for m in _NEG_RE.finditer(low):
        if m.start() < i or _is_title_word(text, m.start(), quoted):
            continue
        pos_spans.append(low[i : m.start()])
        keep.append(shown[i : m.start()])
        rest = low[m.end() :]
        b = _BOUNDARY_RE.search(rest)
        end = m.end() + (b.start() if b else len(rest))
        neg_spans.append("person" if _NO_PERSON_RE.match(m.group(0)) else low[m.end() : end])
        i = end
    pos_spans.append(low[i:])
    keep.append(shown[i:])
    positive: list[str] = []
    for s in pos_spans:
        positive += [p for p in _phrases(s) if p not in positive]
    negative: list[str] = []
    for s in [*attached, *neg_spans]:
        negative += [p for p in _phrases(s) if p not in negative]
    positive = [p for p in positive if p not in negative]
    # With no negated span this is the query itself, casing and punctuation kept: the embedder sees what a
    # plain dense search would (lower-casing and cutting the final "." cost recall on HotpotQA).
    embed = (" ".join(shown.split()) if len(keep) == 1 else " ".join(s.strip(" ,;") for s in keep if s.strip(" ,;."))) or text
    return ParsedQuery(text, positive, negative, embed, "rules")


def _clean_list(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    out = []
    for v in values:
        c = normalize_concept(v) if isinstance(v, str) else ""
        if c and c not in out:
            out.append(c)
    return out


def parse_query(query: str, llm: Any | None = None) -> ParsedQuery:
    """Parse with ``llm`` when given (JSON), else — or on unusable output — with :func:`parse_rules`."""
    rules = parse_rules(query)
    if llm is None:
        return rules
    try:
        obj, _ = llm.generate_json([Message("user", _PROMPT.format(query=query))], _SCHEMA, max_tokens=128)
    except ServerUnreachableError:
        raise  # a dead server is the user's to know about, not something to hide behind the rules
    except (VimragError, ValueError, TypeError, KeyError) as exc:  # unusable output: the rules still answer
        _log.warning("query parser model gave no usable JSON (%s); using the rule parser", exc)
        return rules
    if not isinstance(obj, dict):
        return rules
    positive, negative = _clean_list(obj.get("positive")), _clean_list(obj.get("negative"))
    if not positive and not negative:
        return rules
    positive = [p for p in positive if p not in negative]
    return ParsedQuery(rules.text, positive, negative, rules.embed_text, "llm")
