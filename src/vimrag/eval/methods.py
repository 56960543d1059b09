"""The methods the harness compares, all behind one small protocol and all on the same backends.

- ``none``: the LLM alone (no retrieval) — what the model knows. On POPE it needs an image-capable model.
- ``dense``: vanilla dense RAG — embed the question, top-k by cosine only (an empty logic query, so every
  item has the same neutral state and the store orders by similarity), then one LLM call.
- ``polar``: PolarMem logic-aware retrieval (Algorithm 1) with ``[Fact Check: ...]`` evidence, then one LLM
  call; ablations ``polar-pos`` (only Q+ constraints) and ``polar-neg`` (only Q−); ``polar-strict`` returns
  only items verified to satisfy the query (``Memory.search(strict=True)``, maybe fewer). On POPE, ``polar``
  answers from the verified polarity of the asked object on that image (HAS → yes, NOT_HAS → no,
  UNCERTAIN or unknown → no): PolarMem's perception is what is measured.
- ``react`` / ``summary`` / ``vimrag``: the agents, through ``vimrag.Agent(memory, config).ask``.

A method returns a :class:`Prediction` with the answer, what it retrieved (in rank order), token counts,
steps, invalid (repeated) retrievals and its trajectory file; the harness adds timing and memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vimrag.agent.methods import METHODS
from vimrag.config import Config
from vimrag.errors import ConfigError
from vimrag.eval.schema import Example

RAG_METHODS = ("none", "dense", "bm25", "hybrid", "polar", "polar-pos", "polar-neg", "polar-strict")
#: The agents (names from the one registry, vimrag.agent.methods), alphabetical as the reports list them.
AGENT_METHODS = tuple(sorted(METHODS))
METHOD_NAMES = (*RAG_METHODS, *AGENT_METHODS)

SYSTEM_PROMPT = (
    "You answer questions. Reply with the short answer only (a few words, a number, or a list in "
    "[brackets]); no explanation. If the evidence does not contain the answer, reply: Not answerable."
)
SYSTEM_PROMPT_CLOSED_BOOK = "You answer questions. Reply with the short answer only (a few words or a number)."


@dataclass
class Retrieved:
    """One retrieved unit, in rank order: which file, where in it, its logic state and similarity."""

    source: str
    locator: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    similarity: float | None = None

    @property
    def page(self) -> int | None:
        p = self.locator.get("page")
        return int(p) if p is not None else None


@dataclass
class Prediction:
    """What one method produced for one example (one line of ``predictions.jsonl``)."""

    answer: str = ""
    retrieved: list[Retrieved] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, re-used from the model's KV cache
    steps: int = 0
    invalid_retrievals: int = 0
    seconds: float = 0.0
    trajectory: str | None = None
    method: str = ""
    id: str = ""
    error: str | None = None
    rss_peak_mb: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> dict[str, int]:
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens, "cached": self.cached_tokens}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Prediction:
        d = dict(d)
        d["retrieved"] = [Retrieved(**r) for r in d.get("retrieved", [])]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@runtime_checkable
class EvalMethod(Protocol):
    name: str
    tasks: frozenset[str]  # dataset tasks it can run: "qa", "pope", "retrieval"

    def run(self, example: Example) -> Prediction: ...


@dataclass
class Backends:
    """What every method shares, so comparisons are on identical models, store and budgets.

    ``memory`` is a :class:`vimrag.Memory` (or anything with ``search``, ``store``, ``embedder``, ``get``);
    ``llm`` a :class:`vimrag.models.base.LanguageModel`; ``corpus`` the dataset's corpus folder (POPE needs
    it to show an image to a VLM); ``trajectories`` where agent trajectories are written.
    """

    config: Config
    memory: Any = None
    llm: Any = None
    corpus: Path | None = None
    trajectories: Path | None = None
    k: int = 10  # retrieval depth recorded for hit@k / recall@k / NDCG@k
    agent_factory: Callable[[Any, Config], Any] | None = None


# --------------------------------------------------------------------------- helpers


def _messages(system: str, user: str) -> list[Any]:
    from vimrag.models.base import Message

    return [Message("system", system), Message("user", user)]


def _question_text(ex: Example) -> str:
    if ex.options:
        opts = "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(ex.options))
        return f"{ex.question}\nOptions:\n{opts}\nAnswer with the letter of the right option."
    return ex.question


def _clean_answer(text: str) -> str:
    """First non-empty line, without an "Answer:" prefix or surrounding quotes."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    a = lines[0] if lines else ""
    a = re.sub(r"^(final\s+)?answer\s*[:\-]\s*", "", a, flags=re.I)
    return a.strip().strip('"').strip()


def _generate(llm: Any, system: str, user: str, config: Config) -> tuple[str, int, int]:
    if llm is None:
        raise ConfigError("this method needs a language model (config models.llm)")
    c = llm.generate(_messages(system, user), max_tokens=config.agent.max_completion_tokens, temperature=0.0)
    return _clean_answer(c.text), int(c.prompt_tokens), int(c.completion_tokens)


def _hit_to_retrieved(hit: Any) -> Retrieved:
    item = hit.item
    loc = item.locator.to_dict() if hasattr(item.locator, "to_dict") else dict(item.locator or {})
    state = getattr(hit.state, "label", str(hit.state))
    return Retrieved(item.source, loc, state, float(hit.similarity))


def evidence_block(hits: Sequence[Any], tagged: bool, max_chars: int = 1200, question: str = "") -> str:
    """The retrieved context in rank order, numbered; ``tagged`` adds PolarMem's ``[Fact Check: STATE]``."""
    from vimrag.polar.evidence import evidence_text

    return "\n".join(f"[{i}] {evidence_text(h.item, h.state if tagged else None, max_chars, question)}"
                     for i, h in enumerate(hits, 1))


# --------------------------------------------------------------------------- methods


class NoRetrieval:
    """The LLM alone. On POPE the image is shown if the model takes images; otherwise POPE is skipped."""

    name = "none"

    def __init__(self, b: Backends) -> None:
        self.b = b
        self.tasks = frozenset({"qa", "pope"} if getattr(b.llm, "supports_images", False) else {"qa"})

    def run(self, example: Example) -> Prediction:
        if example.meta.get("image") and getattr(self.b.llm, "supports_images", False) and self.b.corpus:
            from PIL import Image

            from vimrag.models.base import ImageInput, Message

            with Image.open(self.b.corpus / example.meta["image"]) as im:
                img = im.convert("RGB")
            msgs = [Message("user", f"{example.question} Answer yes or no.", [ImageInput(img)])]
            c = self.b.llm.generate(msgs, max_tokens=8, temperature=0.0)
            return Prediction(_clean_answer(c.text), [], int(c.prompt_tokens), int(c.completion_tokens), steps=1)
        answer, pt, ct = _generate(self.b.llm, SYSTEM_PROMPT_CLOSED_BOOK, _question_text(example), self.b.config)
        return Prediction(answer, [], pt, ct, steps=1)


class DenseRAG:
    """Vanilla RAG over the same store, concepts ignored: ``dense`` (cosine top-k over the vectors PolarMem
    stores), ``bm25`` (BM25 over the items' words) or ``hybrid`` (the two fused, as inside PolarMem's tiers)."""

    tasks = frozenset({"qa", "retrieval"})

    def __init__(self, b: Backends, similarity: str = "dense") -> None:
        self.b = b
        self.similarity = similarity
        self.name = {"dense": "dense", "lexical": "bm25", "hybrid": "hybrid"}[similarity]

    def search(self, query: str, k: int) -> list[Any]:
        from vimrag.polar.query import ParsedQuery

        # no concepts: the store's order is then the similarity alone, over the query text itself
        return list(self.b.memory.search(ParsedQuery(query, embed_text=query), k, similarity=self.similarity).hits)

    def run(self, example: Example) -> Prediction:
        k = max(self.b.k, self.b.config.agent.top_k)
        hits = self.search(example.question, k)
        return _answer_with(self.b, example, hits, tagged=False)


class PolarRAG:
    """PolarMem retrieval (Algorithm 1) with Fact-Check evidence; ``mode`` pos / neg keeps one side of the
    parsed query (the ablations of PolarMem's Table on positive-only / negative-only constraints)."""

    tasks = frozenset({"qa", "retrieval", "pope"})

    def __init__(self, b: Backends, mode: str = "full") -> None:
        if mode not in ("full", "pos", "neg", "strict"):
            raise ConfigError(f"polar mode must be full, pos, neg or strict, got {mode!r}")
        self.b, self.mode = b, mode
        self.name = "polar" if mode == "full" else f"polar-{mode}"
        if mode != "full":
            self.tasks = frozenset({"qa", "retrieval"})
        self._by_source: dict[str, list[Any]] | None = None

    def search(self, query: str, k: int) -> list[Any]:
        mem = self.b.memory
        res = mem.search(query, k, strict=self.mode == "strict")
        if self.mode in ("full", "strict"):
            return list(res.hits)
        from vimrag.polar.query import ParsedQuery

        # one side of the parsed query only; the whole query text is embedded, as for dense retrieval
        side = {"positive": res.positive} if self.mode == "pos" else {"negative": res.negative}
        return list(mem.search(ParsedQuery(query, embed_text=query, **side), k).hits)

    def run(self, example: Example) -> Prediction:
        if "object" in example.meta and "image" in example.meta:
            return self._pope(example)
        k = max(self.b.k, self.b.config.agent.top_k)
        return _answer_with(self.b, example, self.search(example.question, k), tagged=True)

    def _pope(self, example: Example) -> Prediction:
        from vimrag.eval.metrics import source_matches

        if self._by_source is None:
            self._by_source = {}
            for it in self.b.memory.items():
                self._by_source.setdefault(it.source, []).append(it)
        want = " ".join(str(example.meta["object"]).lower().split())
        state = "unknown"
        for src, items in self._by_source.items():
            if not source_matches(src, example.meta["image"]):
                continue
            for it in items:
                for c in it.concepts:
                    if " ".join(c.concept.lower().split()) in (want, want + "s"):
                        state = c.polarity.name.lower()
        answer = "yes" if state == "has" else "no"
        return Prediction(answer, [], steps=0, meta={"polarity": state})


def _answer_with(b: Backends, example: Example, hits: list[Any], tagged: bool) -> Prediction:
    retrieved = [_hit_to_retrieved(h) for h in hits]
    if not hits or b.llm is None or example.meta.get("retrieval_only") or not example.answers:
        return Prediction("", retrieved, steps=1)
    context = evidence_block(hits[: b.config.agent.top_k], tagged, question=_question_text(example))
    user = f"Evidence:\n{context}\n\nQuestion: {_question_text(example)}\nAnswer:"
    answer, pt, ct = _generate(b.llm, SYSTEM_PROMPT, user, b.config)
    return Prediction(answer, retrieved, pt, ct, steps=1)


class AgentEval:
    """One of the agents (VimRAG, ReAct, summary) through the public ``vimrag.Agent`` facade."""

    tasks = frozenset({"qa"})

    def __init__(self, b: Backends, method: str) -> None:
        self.b, self.name = b, method
        self._agent: Any = None

    @property
    def agent(self) -> Any:
        if self._agent is None:
            if self.b.agent_factory is not None:
                self._agent = self.b.agent_factory(self.b.memory, self.b.config)
            else:
                from vimrag import Agent

                self._agent = Agent(self.b.memory, self.b.config, llm=self.b.llm)
        return self._agent

    def run(self, example: Example) -> Prediction:
        res = self.agent.ask(_question_text(example), method=self.name)
        return prediction_from_agent(res, self.b.trajectories, self.name, example.id)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def prediction_from_agent(res: Any, traj_dir: Path | None, method: str, example_id: str) -> Prediction:
    """Read an ``AgentResult`` (answer, citations, steps, tokens, trajectory) defensively into a Prediction.

    Retrieved = the cited units first, then every other memory-bank item of the trajectory's nodes in node
    order (the trajectory contract's ``nodes[].bank``), deduplicated.
    """
    traj = _get(res, "trajectory")
    if not (isinstance(traj, (str, Path)) and Path(traj).is_file()) and _get(res, "record") is not None:
        traj = _get(res, "record")  # loop.AgentResult keeps the Trajectory object beside its saved path
    tdict: dict[str, Any] | None = None
    tpath: str | None = None
    if traj is not None:
        if isinstance(traj, (str, Path)) and Path(traj).is_file():
            tpath = str(traj)
            tdict = json.loads(Path(traj).read_text())
        elif isinstance(traj, dict) or hasattr(traj, "to_json"):
            tdict = traj if isinstance(traj, dict) else traj.to_json()
            if isinstance(tdict, str):
                tdict = json.loads(tdict)
            if traj_dir is not None:
                safe = re.sub(r"[^A-Za-z0-9._-]+", "_", example_id)[:80]
                p = traj_dir / method / f"{safe}.json"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(json.dumps(tdict, ensure_ascii=False))
                tpath = str(p)
    retrieved: list[Retrieved] = []
    seen: set[tuple[str, str]] = set()

    def add(source: str, locator: dict[str, Any], state: str = "", sim: float | None = None) -> None:
        key = (source, json.dumps(locator, sort_keys=True))
        if key not in seen:
            seen.add(key)
            retrieved.append(Retrieved(source, locator, state, sim))

    for c in _get(res, "citations", None) or []:
        loc = _get(c, "locator", {}) or {}
        add(_get(c, "source", ""), loc.to_dict() if hasattr(loc, "to_dict") else dict(loc))
    for node in sorted((tdict or {}).get("nodes", []), key=lambda n: n.get("id", 0)):
        for m in node.get("bank", []):
            add(m.get("source", ""), m.get("locator", {}) or {}, m.get("state", ""), m.get("similarity"))
    tokens = _get(res, "tokens", None) or (tdict or {}).get("tokens", {}) or {}
    steps = _get(res, "steps", None)
    if isinstance(steps, list):
        steps = len(steps)
    if steps is None:
        steps = (tdict or {}).get("steps_taken", 0)
    invalid = _get(res, "invalid_retrievals", None)
    if invalid is None:
        invalid = (tdict or {}).get("invalid_retrievals", 0)
    return Prediction(
        answer=_clean_answer(str(_get(res, "answer", "") or "")), retrieved=retrieved,
        prompt_tokens=int(_get(tokens, "prompt", 0) or 0), completion_tokens=int(_get(tokens, "completion", 0) or 0),
        cached_tokens=int(_get(tokens, "cached", 0) or 0),
        steps=int(steps or 0), invalid_retrievals=int(invalid or 0), trajectory=tpath,
    )


def build_method(name: str, b: Backends) -> EvalMethod:
    """Build one method by name on shared backends."""
    if name == "none":
        return NoRetrieval(b)
    if name in ("dense", "bm25", "hybrid"):
        return DenseRAG(b, {"dense": "dense", "bm25": "lexical", "hybrid": "hybrid"}[name])
    if name == "polar":
        return PolarRAG(b, "full")
    if name in ("polar-pos", "polar-neg", "polar-strict"):
        return PolarRAG(b, name.split("-")[1])
    if name in AGENT_METHODS:
        return AgentEval(b, name)
    raise ConfigError(f"unknown eval method {name!r}; choose from {', '.join(METHOD_NAMES)}")
