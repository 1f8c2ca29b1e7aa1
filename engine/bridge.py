"""Who scores a batch whose shape is not compiled yet: the compiled engine, a stand-in, or nobody.

The stand-in is ONNX Runtime on the same model file. Three policies (`BRIDGE_MODES`):

- "always" (live feeds): the stand-in scores every batch until no compile is left, so no
  tweet waits for one; a shape not compiled yet is queued at the front.
- "first" (batch scoring): the stand-in scores only until the model's first engine is built,
  and lengths nobody asked to compile (tweets past 64 tokens cost less there than a compile);
  otherwise a batch waits for its shape, because ONNX Runtime runs these int8 files at a third
  to a half of DeepSparse's speed (BENCHMARKS.md).
- "never": a batch always waits for its shape.

Without background compiling (no warm-up) a missing shape is compiled on the spot.
"""

from __future__ import annotations

import os
from enum import Enum

from .backend import BRIDGE_MODES, Outputs
from .model_folder import ModelFolder
from .ort import OrtBackend
from .tokenization import Encoded


class Route(Enum):
    COMPILED = "compiled"  # the shape's engine is built: run it
    STAND_IN = "stand-in"  # ONNX Runtime scores the batch
    WAIT = "wait"  # wait for the shape's compile (on this thread when nobody has it queued)
    COMPILE_NOW = "compile-now"  # no background compiling: compile here, and say why it fails


def check_mode(mode: str) -> str:
    if mode not in BRIDGE_MODES:
        raise ValueError(f"bridge must be one of {', '.join(BRIDGE_MODES)}")
    return mode


def route(mode: str, *, ready: bool, failed: bool, queued: bool, any_ready: bool, compiling: bool,
          background: bool) -> Route:
    """Where a batch goes. `ready`: its shape is built; `failed`: it cannot be; `queued`: it is
    waiting to compile or compiling; `any_ready`: the model has some engine built;
    `compiling`: any compile of the classifier is under way; `background`: shapes compile on
    a worker thread."""
    if mode == "always":
        return Route.COMPILED if ready and not compiling else Route.STAND_IN
    if mode == "first" and not ready and (not any_ready or not queued):
        return Route.STAND_IN
    if ready:
        return Route.COMPILED
    if failed:
        return Route.STAND_IN
    return Route.WAIT if background else Route.COMPILE_NOW


class Bridge:
    """ONNX Runtime on the model file, built when first needed, counting the batches it scores."""

    def __init__(self, model: ModelFolder, threads: int = 0):
        self._model = model
        # It scores beside a compile that holds one core: on every core it would spin against
        # the compile (batch p99 ~330 ms at 50 tweets/s; bench/e2e.py).
        self._threads = threads or max(1, (os.cpu_count() or 2) - 1)
        self._ort: OrtBackend | None = None
        self.batches = 0

    def ort(self) -> OrtBackend:
        if self._ort is None:
            self._ort = OrtBackend(self._model, threads=self._threads)
        return self._ort

    def run(self, enc: Encoded, counted: bool = True) -> Outputs:
        """The batch's outputs on ONNX Runtime, run on its real rows and tokens only (padding to
        a compiled shape is waste where any shape runs), unless the graph fixes the shape."""
        if counted:
            self.batches += 1
        if not (self._model.fixed_batch or self._model.fixed_seq):
            enc = trimmed(enc)
        return self.ort().run_uncounted(enc)


def trimmed(enc: Encoded) -> Encoded:
    """The real rows and tokens of a padded batch."""
    n = max(1, enc.n)
    length = max(1, int(enc.attention_mask[:n].sum(axis=1).max()))
    return Encoded(enc.input_ids[:n, :length], enc.attention_mask[:n, :length], enc.token_type_ids[:n, :length], n)
