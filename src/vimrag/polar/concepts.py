"""Concept normalization and query-concept → memory-concept matching (PolarMem §3.2, concept nodes).

Concept nodes are shared across items, so "Dogs", "the dog" and "dog" must be one node, and a query's
"puppy" must reach the memory's "dog". Normalisation is deterministic and dependency-free (rule-based
singularisation of the head noun); matching uses the configured text embedder with cached vocabulary
embeddings and the threshold ``PolarConfig.concept_match``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from vimrag.models.base import TextEmbedder

_ARTICLES = re.compile(r"^(?:a|an|the|some|any|two|three|several|many)\s+")
_KEEP = {
    "glasses", "scissors", "pants", "jeans", "shorts", "trousers", "news", "physics", "mathematics", "series",
    "species", "bus", "gas", "lens", "bass", "chess", "grass", "glass", "dress", "class", "boss", "cross",
    "moss", "mass", "kiss", "canvas", "atlas", "cactus", "virus", "bonus", "campus", "corpus", "octopus",
    "hippopotamus", "status", "analysis", "basis", "axis", "thesis", "tennis", "this", "is", "was", "its",
    "sheep", "fish", "deer", "aircraft", "people", "police", "cattle", "data", "media", "christmas",
}
_IRREGULAR = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "persons": "person", "mice": "mouse",
    "geese": "goose", "feet": "foot", "teeth": "tooth", "knives": "knife", "wives": "wife", "leaves": "leaf",
    "shelves": "shelf", "wolves": "wolf", "loaves": "loaf", "halves": "half", "lives": "life",
    "calves": "calf", "scarves": "scarf", "oxen": "ox", "dice": "die", "indices": "index",
    "matrices": "matrix", "vertices": "vertex", "cacti": "cactus", "fungi": "fungus", "criteria": "criterion",
    "phenomena": "phenomenon", "potatoes": "potato", "tomatoes": "tomato", "heroes": "hero", "echoes": "echo", "mangoes": "mango",
    "wine glasses": "wine glass", "eyeglasses": "eyeglasses", "sunglasses": "sunglasses", "skis": "ski",
    "taxis": "taxi", "bikinis": "bikini", "kiwis": "kiwi",
}


#: Everyday words for the closed vocabulary's names (COCO's classes and the layout labels), consulted only when
#: the query's word is not itself a memory concept: "puppy" reaches "dog" even where the embedding's cosine
#: is under ``concept_match`` (issue 16, query side). Keys and values are normalized (singular, lower case).
SYNONYMS = {
    **dict.fromkeys(("puppy", "pup", "doggy", "doggie", "hound", "canine"), "dog"),
    **dict.fromkeys(("kitten", "kitty", "feline", "tomcat"), "cat"),
    **dict.fromkeys(("person", "man", "woman", "boy", "girl", "child", "kid", "guy", "lady", "pedestrian",
                     "human", "adult", "baby", "toddler", "player", "someone", "somebody", "anyone", "anybody", "rider", "cyclist",
                     "biker", "skier", "surfer", "skater", "skateboarder", "snowboarder", "driver", "passenger",
                     "crowd", "tourist", "spectator", "athlete", "worker", "chef", "student", "teenager", "teen",
                     "gentleman", "policeman", "police officer", "soldier", "customer", "shopper", "traveler",
                     "traveller", "passerby", "bystander"), "person"),
    **dict.fromkeys(("mug", "teacup", "coffee cup", "coffee mug"), "cup"),
    **dict.fromkeys(("motorbike", "scooter", "moped"), "motorcycle"),
    **dict.fromkeys(("television", "telly", "tv set", "television set"), "tv"),
    **dict.fromkeys(("sofa", "settee", "loveseat"), "couch"),
    **dict.fromkeys(("bike", "cycle", "push bike"), "bicycle"),
    **dict.fromkeys(("automobile", "sedan", "taxi", "cab", "suv"), "car"),
    **dict.fromkeys(("plane", "aeroplane", "jet", "airliner", "aircraft"), "airplane"),
    **dict.fromkeys(("phone", "cellphone", "smartphone", "mobile phone", "mobile"), "cell phone"),
    **dict.fromkeys(("ship", "sailboat", "yacht", "canoe", "kayak"), "boat"),
    **dict.fromkeys(("lorry", "pickup", "pickup truck"), "truck"),
    **dict.fromkeys(("fridge",), "refrigerator"),
    **dict.fromkeys(("hotdog",), "hot dog"),
    **dict.fromkeys(("doughnut",), "donut"),
    **dict.fromkeys(("purse",), "handbag"),
    **dict.fromkeys(("rucksack", "knapsack"), "backpack"),
    **dict.fromkeys(("pony", "foal", "stallion", "mare"), "horse"),
    **dict.fromkeys(("cattle", "calf", "bull", "ox"), "cow"),
    **dict.fromkeys(("lamb", "ram"), "sheep"),
    **dict.fromkeys(("teddy",), "teddy bear"),
    **dict.fromkeys(("houseplant", "pot plant", "plant"), "potted plant"),
    **dict.fromkeys(("loo", "lavatory"), "toilet"),
    **dict.fromkeys(("remote control", "tv remote"), "remote"),
    **dict.fromkeys(("stove", "cooker"), "oven"),
    **dict.fromkeys(("microwave oven",), "microwave"),
    **dict.fromkeys(("hair dryer", "hairdryer", "blow dryer"), "hair drier"),
    **dict.fromkeys(("notebook computer", "computer"), "laptop"),
    **dict.fromkeys(("ball", "football", "soccer ball", "basketball"), "sports ball"),
    **dict.fromkeys(("glass of wine",), "wine glass"),
    **dict.fromkeys(("chart", "graph", "plot", "diagram", "illustration", "bar chart", "pie chart", "line chart",
                     "bar graph", "line graph", "histogram", "scatter plot", "flowchart"), "figure"),
    **dict.fromkeys(("heading", "headline"), "title"),
}


#: Everyday words for a *group* of vocabulary concepts ("no vehicles" excludes cars, buses, trucks…), consulted
#: after SYNONYMS. A wanted group is satisfied by any member and an unwanted one is violated by any member,
#: which is how the retriever reads several concepts reached by one query word.
CATEGORIES = {
    **dict.fromkeys(("vehicle", "motor vehicle", "traffic"), ("car", "truck", "bus", "motorcycle")),
    **dict.fromkeys(("animal", "wildlife", "creature"), ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
                                                         "bear", "zebra", "giraffe")),
    **dict.fromkeys(("pet",), ("dog", "cat")),
    **dict.fromkeys(("livestock", "farm animal"), ("horse", "sheep", "cow")),
    **dict.fromkeys(("cutlery", "utensil", "silverware", "flatware"), ("fork", "knife", "spoon")),
    **dict.fromkeys(("furniture",), ("chair", "couch", "bed", "dining table")),
    **dict.fromkeys(("seat", "seating"), ("chair", "couch", "bench")),
    **dict.fromkeys(("luggage", "baggage"), ("suitcase", "backpack", "handbag")),
    **dict.fromkeys(("appliance", "kitchen appliance"), ("microwave", "oven", "toaster", "refrigerator", "sink")),
}


def singularize(word: str) -> str:
    """English plural → singular for one lower-case word (rules + irregulars; unknown words unchanged)."""
    w = word
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w in _KEEP or len(w) <= 3 or not w.endswith("s") or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("es") and w[:-2] in _KEEP:
        return w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "zes", "sses")):
        return w[:-2]
    return w[:-1]


def normalize_concept(name: str) -> str:
    """Case, whitespace, punctuation, leading articles, plural → singular of the head (last) word.

    >>> normalize_concept("  The Dogs "), normalize_concept("wine glasses"), normalize_concept("Traffic-Lights")
    ('dog', 'wine glass', 'traffic light')
    """
    if not isinstance(name, str):
        return ""
    s = name.lower().replace("_", " ").replace("-", " ")
    s = re.sub(r"[^\w\s&'/]", " ", s)
    s = re.sub(r"\s+", " ", s).strip(" '")
    prev = None
    while prev != s:
        prev, s = s, _ARTICLES.sub("", s)
    if not s or s in {"a", "an", "the", "some", "any"}:
        return ""
    if s in _IRREGULAR:
        return _IRREGULAR[s]
    words = s.split(" ")
    if len(words) > 1 and words[-1] == "glasses":  # "wine glasses" is a plural; "glasses" alone is eyewear
        words[-1] = "glass"
    else:
        words[-1] = singularize(words[-1])
    return " ".join(words)


class ConceptMatcher:
    """Maps a query concept to the memory vocabulary concepts it reaches.

    Exact normalized match first (no embedding needed); otherwise every vocabulary concept whose cosine
    with the query concept is ≥ ``threshold`` ("puppy" → "dog", "mug" → "cup"), best first. Vocabulary
    embeddings are computed once and cached; ``update`` embeds only new concepts.
    """

    def __init__(self, vocabulary: Sequence[str], embedder: TextEmbedder | None, threshold: float = 0.78,
                 max_matches: int = 3) -> None:
        self.embedder = embedder
        self.threshold = float(threshold)
        self.max_matches = int(max_matches)
        self._names: list[str] = []
        self._norm: dict[str, list[str]] = {}
        self._emb: np.ndarray | None = None
        self.update(vocabulary)

    def update(self, vocabulary: Sequence[str]) -> None:
        known = set(self._names)
        new = [c for c in dict.fromkeys(vocabulary) if c and c not in known]
        if not new:
            return
        for c in new:
            self._norm.setdefault(normalize_concept(c), []).append(c)
        if self.embedder is not None and self._emb is not None:
            self._emb = np.vstack([self._emb, self._embed(new)])
        self._names.extend(new)

    def _embed(self, texts: list[str]) -> np.ndarray:
        assert self.embedder is not None
        e = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    @property
    def vocabulary(self) -> list[str]:
        return list(self._names)

    def match(self, concept: str) -> list[tuple[str, float]]:
        """(vocabulary concept, cosine) pairs this query concept reaches; exact matches score 1.0."""
        norm = normalize_concept(concept)
        if not norm:
            return []
        # the word's own concept, its synonym's and its category's, together: "television" is an ImageNet
        # concept of the classifier and COCO's "tv" of the detector, and a photo verified to have either has one
        named = [*self._norm.get(norm, []), *self._norm.get(SYNONYMS.get(norm, ""), []),
                 *(c for member in CATEGORIES.get(norm, ()) for c in self._norm.get(member, []))]
        if named:
            return [(c, 1.0) for c in dict.fromkeys(named)]
        if self.embedder is None or not self._names:
            return []
        if self._emb is None:
            self._emb = self._embed(self._names)
        q = self._embed([norm])[0]
        sims = self._emb @ q
        order = np.argsort(-sims)[: self.max_matches]
        return [(self._names[i], float(sims[i])) for i in order if sims[i] >= self.threshold]

    def match_all(self, concepts: Sequence[str]) -> dict[str, list[str]]:
        return {c: [m for m, _ in self.match(c)] for c in concepts}
