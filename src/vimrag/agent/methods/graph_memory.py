"""VimRAG's memory (§3.1–3.2): the policy sees the memory graph with a budgeted view of its evidence.

After each retrieval a ``memorize`` step perceives the new node's raw results once (summary s_t,
saliency mask u, scores p, video keyframes). Decisions then see only the graph: every node's sub-query
and summary, and the kept items that the graph-modulated allocation grants tokens — as images at their
allocated resolution for a VLM, as that many characters of their text state for a text-only model.

``agent.visual_memory`` picks how the nodes' evidence is held — the cross-modal memory strategies of
VimRAG's pilot study (§2), for its ablation: ``selective`` (VimRAG: summary plus the kept items'
budgeted visual tokens), ``raw`` (every retrieved item in full: images at an equal share of S_total for a
VLM, the whole text state otherwise), ``pre_caption`` (every item's query-agnostic description made at
ingest — concepts, OCR, transcript — never an image), ``context_caption`` (the memorize summary alone:
a caption written for the question). ``raw`` and ``selective`` differ in kind only with a VLM; with the
text-only default they are two text budgets.
"""

from __future__ import annotations

from vimrag.agent import prompts
from vimrag.agent.actions import Retrieve
from vimrag.agent.budget import allocate_tokens
from vimrag.agent.context import entry_label
from vimrag.agent.episode import Episode
from vimrag.agent.graph import MemoryNode
from vimrag.agent.methods.base import MethodBase, decide_with_notes, raw_results
from vimrag.models.base import ImageInput, Message
from vimrag.polar.evidence import evidence_text

DECIDE = """You answer a question by searching a memory, one step at a time.
You see a memory graph: node 0 is the question; each other node is a search you made, with a summary and kept evidence [node.item].
Reply with ONE JSON object and nothing else:
{"action": "retrieve", "query": "<short search for ONE missing fact>", "parents": [<ids of the nodes this search builds on>]}
{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>", ...]}
Never repeat a search that is already a node. Answer as soon as the graph holds the answer.
{answer_rule}

Example
Question: In which country was the director of Jaws born?
Graph:
n0: question
n1 <- n0 search "In which country was the director of Jaws born?": Jaws (1975) was directed by Steven Spielberg.
  [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"action": "retrieve", "query": "Steven Spielberg birthplace", "parents": [1]}

Example
Question: Who directed Jaws?
Graph:
n0: question
n1 <- n0 search "Who directed Jaws?": Jaws (1975) was directed by Steven Spielberg.
  [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"action": "answer", "answer": "Steven Spielberg", "cite": ["1.1"]}{source_example}"""

SOURCE_EXAMPLE = """

Example
Question: Which photo shows a dog?
Graph:
n0: question
n1 <- n0 search "Which photo shows a dog?": park.jpg shows a dog on grass.
  [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

MEMORIZE_NODE = """You read search results and keep only what helps answer the question.
Reply with ONE JSON object and nothing else:
{"action": "memorize", "summary": "<1-2 sentences with the facts that matter, names and numbers>", "keep": [<numbers of useful results>], "scores": {"<number>": <usefulness 1-5>}}
For a video result you may add "keyframes": {"<number>": [<seconds>]}.

Example
Question: In which country was the director of Jaws born?
Search: director of Jaws
[1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
[2] [Fact Check: UNCERTAIN] text sharks.txt: Great white sharks live in all major oceans.
Reply: {"action": "memorize", "summary": "Jaws was directed by Steven Spielberg.", "keep": [1], "scores": {"1": 5}}

Example
Question: In which country was the director of Jaws born?
Known: n1: Jaws was directed by Steven Spielberg.
Search: Spielberg birthplace
[1] [Fact Check: UNCERTAIN] text sharks.txt: Great white sharks live in all major oceans.
Reply: {"action": "memorize", "summary": "No result says where Spielberg was born.", "keep": [], "scores": {"1": 1}}"""


class VimRAGMethod(MethodBase):
    name = "vimrag"
    decide_template = DECIDE
    source_example = SOURCE_EXAMPLE

    def render_graph(self, ep: Episode) -> tuple[str, list[ImageInput]]:
        """The graph as text, evidence budgeted by :func:`allocate_tokens` (Ω over the DAG), or held as
        ``agent.visual_memory`` says (the pilot study's other strategies)."""
        cfg = ep.config.budget
        cap = ep.config.agent.evidence_chars  # never more than the raw observation showed
        strategy = ep.config.agent.visual_memory
        ep.allocation = allocate_tokens(ep.graph, cfg, now=ep.now, text_only=not ep.vlm) if strategy == "selective" else []
        tokens = {(a.node, a.index): a for a in ep.allocation}
        lines = ["n0: question"]
        images: list[ImageInput] = []
        for node in ep.graph.nodes[1:]:
            if not node.bank:  # found nothing (new): the note said so; a small model copies such a summary
                continue  # into its answer ("nothing new"), so empty nodes are not shown
            parents = ",".join(f"n{p}" for p in node.parents)
            summary = node.summary or "(no summary)"
            lines.append(f'n{node.id} <- {parents} search "{node.query}": {summary}')
            if strategy != "selective":
                images += _other_strategy(ep, node, strategy, lines)
                continue
            for idx, entry in node.salient():
                alloc = tokens.get((node.id, idx))
                tok = alloc.tokens if alloc else 0
                label = entry_label(node.id, idx)
                imgs = ep.images(entry, alloc.max_pixels, label) if (ep.vlm and tok > 0 and alloc) else []
                if imgs:
                    images += imgs
                    text = evidence_text(entry.item, entry.state, min(ep.config.agent.image_caption_chars, tok * cfg.text_chars_per_token),
                                         ep.question)
                    lines.append(f"  [{label}] {text} " + " ".join(f"<image {i.label}>" for i in imgs))
                elif tok > 0:
                    text = evidence_text(entry.item, entry.state, min(cap, tok * cfg.text_chars_per_token), ep.question)
                    lines.append(f"  [{label}] {text}")
                elif ep.vlm and entry.item.media:  # no tokens: the image reaches a VLM as its text state only
                    lines.append(f"  [{label}] {evidence_text(entry.item, entry.state, max_chars=ep.config.agent.unbudgeted_chars, question=ep.question)}")
        return "\n".join(lines), images

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        graph, images = self.render_graph(ep)
        return decide_with_notes(self, ep, forced, [f"Question: {ep.question}", "Graph:", graph], images)

    def parents(self, ep: Episode, action: Retrieve) -> list[int]:
        """The parents the policy named; if none is valid, the newest node (a chain, like the baselines)."""
        return ep.graph.valid_parents(action.parents) or [len(ep.graph) - 1]

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        """Perceive the node's *new* items once (memorize); items another node already holds are not shown
        again, and a retrieval that brought nothing new is an invalid retrieval with no memorize step.

        Not spelled out in the paper: its graph dedups sub-queries; deduping evidence is the same idea one
        level down, and it is what keeps a small policy's paraphrased re-searches from costing a full
        perception each (on HotpotQA the 1.5B model re-searched its own summary in most questions).
        """
        held = {e.item_id for n in ep.graph.nodes if n.id != node.id for e in n.bank}
        if node.bank and all(e.item_id in held for e in node.bank):
            node.bank = []
            node.summary = "nothing new: every result is already in the graph"
            ep.invalid_retrievals += 1
            ep.note = f"Note: search n{node.id} found nothing new. Search for something else or answer."
            return
        node.bank = [e for e in node.bank if e.item_id not in held]
        if not node.bank:
            node.summary = "nothing found"
            return
        if ep.over_budget():  # no tokens left for perception: keep the items unscored
            return
        results, images = raw_results(ep, node, max_chars=ep.config.agent.memorize_chars)
        user = f"Question: {ep.question}\n{known_line(ep, node)}Search: {node.query}\n{results}\nReply:"
        act = ep.memorize(node, [Message("system", MEMORIZE_NODE), Message("user", user, images)])
        node.summary = act.summary if act is not None else ""
        echoed = echoed_node(ep, node)
        if echoed is not None:
            ep.invalid_retrievals += 1
            ep.note = f"Note: search n{node.id} found nothing that n{echoed} did not already say."

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        ep.note = prompts.REPEAT_NOTE.format(query=action.query) + f" It is node n{duplicate_of}."


def echoed_node(ep: Episode, node: MemoryNode) -> int | None:
    """The ancestor whose findings the node's summary only repeats (every word of it is in that ancestor's
    summary or the question), or None when the node says something new.

    Not in the paper, whose policy is trusted to stop: on the demo the 1.5B searched again after n1's
    summary held the whole answer ("Q3, with a revenue of 3.1 million euros"), memorized the same sentence
    for the new node, then repeated that search before it answered — two decisions and a memorize step,
    ~80 s a question on this CPU, for nothing. Such a search now counts as an invalid retrieval, like a
    repeated query (``agent.max_repeats``), so by default the next decision answers from the graph.
    """
    from vimrag.index.lexical import tokenize

    said = set(tokenize(node.summary or ""))
    if not said:
        return None
    asked = set(tokenize(ep.question))
    for anc in reversed(findings(ep, node)):  # the nearest ancestor first
        if said <= set(tokenize(anc.summary)) | asked:
            return anc.id
    return None


def findings(ep: Episode, node: MemoryNode) -> list[MemoryNode]:
    """The node's ancestors that established something (a search with results and a summary), oldest first."""
    nodes = [ep.graph.nodes[n] for n in sorted(ep.graph.ancestors(node.id)) if n > 0]
    return [a for a in nodes if a.bank and a.summary]


def known_line(ep: Episode, node: MemoryNode) -> str:
    """What the node's ancestors already established (their summaries), for its memorize prompt.

    The paper's memorize action is taken by the policy with the graph in its context; shown only the new
    results, the 1.5B filled a summary of unrelated results with the question's own words ("The North
    region sold 0 bicycles in Q3", from a project note, after n1 had found 1,240) and the forced answer
    cited it. With the ancestors' findings in view a result that adds nothing is scored as such (second
    example of ``MEMORIZE_NODE``), and a second hop reads its results knowing the bridge entity.
    """
    known = [f"n{a.id}: {a.summary}" for a in findings(ep, node)]
    return f"Known: {' '.join(known)}\n" if known else ""


def _other_strategy(ep: Episode, node: MemoryNode, strategy: str, lines: list[str]) -> list[ImageInput]:
    """A node's evidence under the pilot study's baselines (``agent.visual_memory``), appended to ``lines``."""
    if strategy == "context_caption":  # the summary line is the node's whole memory
        return []
    images: list[ImageInput] = []
    cap = ep.config.agent.evidence_chars
    for idx, entry in enumerate(node.bank, start=1):  # every retrieved item, kept or not
        label = entry_label(node.id, idx)
        if strategy == "pre_caption":  # made at ingest, blind to the question: no question-named cells
            lines.append(f"  [{label}] {evidence_text(entry.item, entry.state, cap)}")
            continue
        imgs = ep.images(entry, ep.raw_max_pixels(), label) if ep.vlm else []  # raw: full share, all items
        images += imgs
        tail = (" " + " ".join(f"<image {i.label}>" for i in imgs)) if imgs else ""
        lines.append(f"  [{label}] {evidence_text(entry.item, entry.state, cap, ep.question)}{tail}")
    return images
