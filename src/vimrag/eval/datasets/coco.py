"""COCO-style object labels → POPE yes/no questions and "A but not B" negation-retrieval queries.

Input: a YOLO-format folder (``images/``, ``labels/<stem>.txt`` with ``class cx cy w h`` lines,
``names.yaml`` mapping class id → name). COCO labels every instance of its 80 classes, so a class missing
from an image's label file is absent from the image — the assumption POPE itself rests on.

**POPE** (Li et al., EMNLP 2023; protocol of AoiDragon/POPE ``utils.pope``): for each image with at least
``per_image`` distinct objects, ask about ``per_image`` present objects (answer "yes"), each followed by
one absent object (answer "no"), so yes/no are balanced. The absent object is chosen by the setting:

- ``random``: uniformly among the classes seen in the dataset that are absent from the image;
- ``popular``: the most frequent classes of the dataset (by images containing them) not yet used;
- ``adversarial``: the classes that co-occur most often with the present object just asked about.

Deviation: POPE takes an image's first ``per_image`` annotated objects; YOLO files list boxes in no
meaningful order, so we sample them with a seeded RNG (deterministic). Ties in frequency / co-occurrence
are broken by class id. Questions use POPE's template ``Is there a/an {object} in the image?``.

**Negation retrieval** (PolarMem's logic-aware setting): queries "a photo with a/an A but no B" for class
pairs (A, B) where some image has A without B *and* some image has both (so ignoring the negation is
penalised). Gold = images containing A and not B; ``meta.negative_images`` = images containing B.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from vimrag.eval.schema import Dataset, DatasetError, Evidence, Example, write_dataset

POPE_SETTINGS = ("random", "popular", "adversarial")


def read_names(path: Path) -> dict[int, str]:
    """Read ``names.yaml`` (``names: {0: person, ...}`` or a list) without requiring PyYAML."""
    if not path.is_file():
        raise DatasetError(f"{path}: class names file not found")
    names: dict[int, str] = {}
    in_names = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.startswith("names:"):
            rest = line[len("names:"):].strip()
            if rest.startswith("["):
                items = [s.strip().strip("'\"") for s in rest.strip("[]").split(",") if s.strip()]
                return dict(enumerate(items))
            in_names = True
            continue
        if in_names and raw[:1] in (" ", "\t"):
            body = line.strip()
            if body.startswith("- "):
                names[len(names)] = body[2:].strip().strip("'\"")
            elif ":" in body:
                k, v = body.split(":", 1)
                names[int(k.strip())] = v.strip().strip("'\"")
        elif in_names:
            in_names = False
    if not names:
        raise DatasetError(f"{path}: no class names found")
    return names


def read_yolo_objects(root: str | Path) -> tuple[dict[str, list[str]], dict[int, str], dict[str, str]]:
    """Return ({image stem: [distinct class names, in file order]}, class names, {stem: image file name})."""
    root = Path(root)
    names = read_names(root / "names.yaml")
    images = {p.stem: p.name for p in sorted((root / "images").iterdir())
              if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}}
    if not images:
        raise DatasetError(f"{root / 'images'}: no images found")
    objects: dict[str, list[str]] = {}
    for stem in images:
        label = root / "labels" / f"{stem}.txt"
        seen: list[str] = []
        if label.is_file():
            for n, line in enumerate(label.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    cid = int(line.split()[0])
                except ValueError as exc:
                    raise DatasetError(f"{label}:{n}: expected 'class cx cy w h'") from exc
                if cid not in names:
                    raise DatasetError(f"{label}:{n}: class id {cid} not in names.yaml")
                if names[cid] not in seen:
                    seen.append(names[cid])
        objects[stem] = seen
    return objects, names, images


def _article(obj: str) -> str:
    return "an" if obj[:1].lower() in "aeiou" else "a"


def pope_question(obj: str) -> str:
    return f"Is there {_article(obj)} {obj} in the image?"


def pope_examples(objects: dict[str, list[str]], images: dict[str, str], class_order: dict[str, int],
                  setting: str, per_image: int = 3, seed: int = 0) -> list[Example]:
    """Build POPE questions for one sampling ``setting`` (see module docstring)."""
    if setting not in POPE_SETTINGS:
        raise DatasetError(f"unknown POPE setting {setting!r}; choose from {POPE_SETTINGS}")
    rng = random.Random(f"{seed}:{setting}")
    freq = Counter(o for objs in objects.values() for o in objs)
    vocab = sorted(freq, key=lambda o: class_order[o])
    popular = sorted(vocab, key=lambda o: (-freq[o], class_order[o]))
    co: dict[str, Counter[str]] = {o: Counter() for o in vocab}
    for objs in objects.values():
        for a in objs:
            for b in objs:
                if a != b:
                    co[a][b] += 1
    out: list[Example] = []
    for stem in sorted(objects):
        present = objects[stem]
        if len(present) < per_image:
            continue
        asked = rng.sample(present, per_image)
        used: set[str] = set(asked)
        for pos in asked:
            if setting == "popular":
                ranked = popular
            elif setting == "adversarial":
                ranked = sorted(co[pos], key=lambda o: (-co[pos][o], class_order[o]))
            else:
                ranked = []
            neg = next((o for o in ranked if o not in used and o not in present), None)
            if neg is None:  # POPE falls back to a random absent class
                pool = [o for o in vocab if o not in used and o not in present]
                neg = rng.choice(pool)
            used.add(neg)
            for obj, label in ((pos, "yes"), (neg, "no")):
                out.append(Example(
                    id=f"{setting}:{stem}:{obj.replace(' ', '_')}", question=pope_question(obj), answers=[label],
                    answer_format="str", evidence=[Evidence(images[stem], image=stem)],
                    category=setting,
                    meta={"image": images[stem], "object": obj, "label": label, "setting": setting},
                ))
    return out


def negation_examples(objects: dict[str, list[str]], images: dict[str, str], class_order: dict[str, int],
                      n: int = 100, seed: int = 0, min_positive: int = 1) -> list[Example]:
    """Sample ``n`` "A but not B" queries among the class pairs where the negation changes the answer
    (and A is in at least ``min_positive`` images)."""
    by_class: dict[str, set[str]] = {}
    for stem, objs in objects.items():
        for o in objs:
            by_class.setdefault(o, set()).add(stem)
    classes = sorted(by_class, key=lambda o: class_order[o])
    pairs = [(a, b) for a in classes for b in classes
             if a != b and len(by_class[a]) >= min_positive and by_class[a] - by_class[b] and by_class[a] & by_class[b]]
    rng = random.Random(f"{seed}:negation")
    chosen = sorted(rng.sample(pairs, min(n, len(pairs))), key=lambda p: (class_order[p[0]], class_order[p[1]]))
    out: list[Example] = []
    for a, b in chosen:
        gold = sorted(by_class[a] - by_class[b])
        neg = sorted(by_class[b])
        out.append(Example(
            id=f"neg:{a.replace(' ', '_')}-not-{b.replace(' ', '_')}",
            question=f"a photo with {_article(a)} {a} but no {b}", answers=[], answer_format="str",
            evidence=[Evidence(images[s], image=s) for s in gold],
            category=f"{len(gold)} gold",
            meta={"positive": [a], "negative": [b], "negative_images": [images[s] for s in neg],
                  "confusers": [images[s] for s in sorted(by_class[a] & by_class[b])]},
        ))
    for ex in out:
        g = len(ex.evidence)
        ex.category = "1 gold" if g == 1 else "2-5 gold" if g <= 5 else ">5 gold"
    return out


def convert_coco_pope(src: str | Path, out: str | Path, name: str = "coco128-pope",
                      settings: tuple[str, ...] = POPE_SETTINGS, per_image: int = 3, seed: int = 0) -> Dataset:
    """POPE questions for all ``settings`` in one file; ``category`` is the setting. Corpus = ``src/images``."""
    src, out = Path(src), Path(out)
    objects, names, images = read_yolo_objects(src)
    order = {v: k for k, v in names.items()}
    examples: list[Example] = []
    for s in settings:
        examples += pope_examples(objects, images, order, s, per_image, seed)
    ds = Dataset(name, examples, (src / "images").resolve(), "pope",
                 f"POPE yes/no object probing ({', '.join(settings)}) on {src.name}",
                 meta={"source": str(src), "per_image": per_image, "seed": seed})
    ds.path = write_dataset(out / f"{name}.jsonl", ds)
    return ds


def convert_coco_negation(src: str | Path, out: str | Path, name: str = "coco128-negation", n: int = 100,
                          seed: int = 0, min_positive: int = 1) -> Dataset:
    """"A but not B" retrieval queries; evidence = gold images. Corpus = ``src/images``."""
    src, out = Path(src), Path(out)
    objects, names, images = read_yolo_objects(src)
    order = {v: k for k, v in names.items()}
    examples = negation_examples(objects, images, order, n, seed, min_positive)
    ds = Dataset(name, examples, (src / "images").resolve(), "retrieval",
                 f"'A but no B' negation retrieval over {src.name} images (gold: A present, B absent)",
                 meta={"source": str(src), "seed": seed, "min_positive": min_positive})
    ds.path = write_dataset(out / f"{name}.jsonl", ds)
    return ds

