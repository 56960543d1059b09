"""The certificate for large tiers: an orthonormal projection bound on x·q (module docstring of
:mod:`vimrag.index.core`, point 3), with optional int8 blocks (fbgemm through torch) for its GEMV.

Any projection keeps the certificate valid; a good one only makes it tighter (fewer rows scored).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

BOUND_MARGIN = 1e-4  # absorbs float32 rounding in the r-dim product and in the exact scores
_Q_BLOCK = 32768  # rows per int8 block of projected coordinates
_Q_AUTO = 4  # dense bound passes before the int8 blocks are built (a one-shot CLI query never pays for them)


class BoundMixin:
    """Projection side of :class:`~vimrag.index.core.PolarIndex`: P, y = Pᵀx per row, ‖x − Py‖, η."""

    bound_dims: int
    bound_sample: int
    _n: int
    _vecs: np.ndarray
    _alive: np.ndarray
    _proj_p: np.ndarray | None
    _proj_p64: np.ndarray | None
    _proj: np.ndarray
    _res: np.ndarray
    _eta: float
    _qblocks: list[tuple[int, int, Any]]
    _qmax: tuple[float, float]
    _dense_passes: int
    _torch: Any

    def fit_projection(self) -> None:
        """Fit P (top ``bound_dims`` right singular vectors of a row sample) and project every row.

        Uncentred on purpose: the bound is on x·q, so P should capture the second moment E[xxᵀ], which
        minimises the expected residual norm ‖x − PPᵀx‖. Any P keeps the certificate valid; a good P
        only makes it tighter.
        """
        r = self.bound_dims
        rows = np.flatnonzero(self._alive[: self._n])
        if r == 0 or rows.size == 0:
            self._proj_p = None
            return
        if rows.size > self.bound_sample:
            rows = np.sort(np.random.default_rng(0).choice(rows, self.bound_sample, replace=False))
        sample = self._vecs[rows].astype(np.float64)
        _, vecs = np.linalg.eigh(sample.T @ sample)
        self._proj_p = np.ascontiguousarray(vecs[:, ::-1][:, :r], dtype=np.float32)
        self._proj_p64 = None
        cap = self._vecs.shape[0]
        self._proj = np.empty((cap, r), dtype=np.float32)
        self._res = np.empty(cap, dtype=np.float32)
        self._eta = 0.0
        self._qblocks, self._qmax = [], (0.0, 0.0)
        self._project(0, self._n)

    def _project(self, a: int, b: int) -> None:
        """y = Pᵀx (float32, stored), residual e = x − P·y in float64 so that x = P·y + e exactly-ish."""
        p = self._proj_p
        assert p is not None
        p64 = p.astype(np.float64)
        for lo in range(a, b, 32768):
            hi = min(b, lo + 32768)
            x = self._vecs[lo:hi]
            y = x @ p
            e = x.astype(np.float64) - y.astype(np.float64) @ p64.T
            self._proj[lo:hi] = y
            self._res[lo:hi] = np.nextafter(np.linalg.norm(e, axis=1).astype(np.float32), np.float32(np.inf))
            if hi > lo:
                self._eta = max(self._eta, float(np.linalg.norm(e @ p64, axis=1).max()))

    def _torch_mod(self) -> Any:
        if self._torch is False:
            try:
                import torch

                torch.ops.quantized.linear_dynamic  # noqa: B018  (fbgemm present in this build)
                self._torch = torch
            except (ImportError, AttributeError, RuntimeError):
                self._torch = None
        return self._torch

    def prepare(self) -> bool:
        """Build the int8 blocks for the bound pass now (else after a few dense passes); True if available.

        The blocks are an optional speed-up of the r-dim GEMV (fbgemm's int8 kernel through torch, ≈4×
        fewer bytes than float32); they are rebuilt from the float coordinates, never persisted.
        """
        torch = self._torch_mod()
        if torch is None or self._proj_p is None:
            return False
        end = self._qblocks[-1][1] if self._qblocks else 0
        l1max, smax = self._qmax
        while self._n - end >= min(_Q_BLOCK, 4096) or (end < self._n and not self._qblocks):
            b = min(self._n, end + _Q_BLOCK)
            y = self._proj[end:b]
            scale = np.abs(y).max(axis=1).astype(np.float64) / 127.0
            scale[scale == 0] = 1.0
            codes = np.clip(np.rint(y / scale[:, None]), -127, 127).astype(np.int8)
            l1max = max(l1max, float((np.abs(codes).sum(axis=1) * scale).max()))
            smax = max(smax, float(scale.max()))
            with warnings.catch_warnings():  # torch.ao quantization deprecation notices; the ops remain
                warnings.simplefilter("ignore")
                w = torch._make_per_channel_quantized_tensor(
                    torch.from_numpy(codes),
                    torch.from_numpy(scale),
                    torch.zeros(b - end, dtype=torch.int64),
                    0,
                )
                packed = torch.ops.quantized.linear_prepack(w, None)
            self._qblocks.append((end, b, packed))
            end = b
        self._qmax = (l1max, smax)
        return True

    def _dense_bound(self, qh: np.ndarray) -> tuple[np.ndarray, float]:
        """y·qh for every row, and a bound on how far below the exact value it may be.

        int8 path: ỹ = s·round(y/s) per row (|y − ỹ| ≤ s/2 elementwise) and fbgemm quantizes qh to 7 bits
        (|qh − q̃| ≤ δ = range(qh)/127 elementwise; we allow twice that). Then
        |y·qh − ỹ·q̃| ≤ ‖ỹ‖₁·δ + (s/2)·‖qh‖₁, bounded with the maxima over rows.

        7 bits, not 8 (``reduce_range``): on CPUs without AVX-512 VNNI fbgemm adds pairs of u8·s8 products
        in int16 with saturation (``vpmaddubsw``); with 8-bit activations a pair can pass 32,767, and on an
        AVX2-only EPYC the pass came out further below y·qh than the bound allowed (the certified-exactness
        test failed). A 7-bit activation cannot saturate, on any CPU.
        """
        n = self._n
        self._dense_passes += 1
        if self._dense_passes >= _Q_AUTO and self._qblocks == [] and self._torch_mod() is not None:
            self.prepare()
        if not self._qblocks:
            return self._proj[:n] @ qh, 0.0
        torch = self._torch
        if self._qblocks[-1][1] < n - 4096:
            self.prepare()
        out = np.empty(n, dtype=np.float32)
        x = torch.from_numpy(qh.reshape(1, -1))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one query: a second thread only adds contention on a shared machine
        try:
            for a, b, packed in self._qblocks:
                out[a:b] = torch.ops.quantized.linear_dynamic(x, packed, True).numpy()[0]
        finally:
            torch.set_num_threads(threads)
        end = self._qblocks[-1][1]
        if end < n:
            out[end:n] = self._proj[end:n] @ qh
        delta = 2.0 * (max(float(qh.max()), 0.0) - min(float(qh.min()), 0.0)) / 127.0
        l1max, smax = self._qmax
        return out, delta * l1max + 0.5 * smax * float(np.abs(qh).sum())
