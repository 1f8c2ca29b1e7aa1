"""What the classifier needs from an inference engine, and the registry of engines.

A backend runs one model file on one engine: a padded batch (`Encoded`) in, every graph
output by name out. Adding an engine is one new module with a class that satisfies
`Backend` and one line in `REGISTRY`; nothing else names engines (the classifier asks a
backend what it needs to know, such as `fixed_shapes`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from finterm.config import ENGINES
from finterm.errors import EngineError

if TYPE_CHECKING:
    from .model_folder import ModelFolder
    from .tokenization import Encoded

Progress = Callable[[str], None]
#: (rows, tokens) of a padded batch.
Shape = tuple[int, int]
#: A model's outputs for one batch, by graph output name.
Outputs = dict[str, np.ndarray]

#: Engine name -> "module:Class" of its backend, in the order `auto` tries them. Imported only
#: when chosen, so a missing engine costs nothing until asked for.
REGISTRY: dict[str, str] = {
    "deepsparse": "finterm.engine.deepsparse:DeepSparseBackend",
    "onnxruntime": "finterm.engine.ort:OrtBackend",
}

assert ("auto", *REGISTRY) == ENGINES, "engine/backend.py REGISTRY and finterm/config.py ENGINES name different engines"

#: How batches are scored while their shape is not compiled (engines that compile per shape).
BRIDGE_MODES = ("always", "first", "never")


@runtime_checkable
class Backend(Protocol):
    """One model file on one engine. Constructed as `cls(model, progress=..., **cls.shared_options(...))`."""

    name: str
    #: True when each (rows, tokens) shape is compiled ahead: batches are then padded to a few
    #: shapes. False when any shape runs as it comes (padded only to its longest tweet).
    fixed_shapes: bool
    #: Batches scored, and of those how many another engine scored because this one was not
    #: ready for their shape (compiling); summaries say it so a rate is never misattributed.
    batches: int
    bridged_batches: int
    #: Seconds each compile took, by shape (empty where nothing compiles).
    compile_seconds: dict[Shape, float]

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this engine cannot run here, or None when it can."""

    @classmethod
    def shared_options(cls, threads: int, streams: int, compile_jobs: int) -> dict:
        """Constructor options the backends of one classifier share: `threads` for all of them
        (0: the engine's default), `streams` models run at the same time, `compile_jobs` compiles."""

    def run(self, enc: Encoded) -> Outputs:
        """Every graph output for the batch (padding rows included)."""

    def warm_up(self, samples: Sequence[Encoded], bridge: str) -> Outputs | None:
        """Get the samples' shapes ready before tweets come, uncounted. Returns the outputs of one
        sample run (for the caller to check against the labels), or None when none ran yet."""

    @property
    def background(self) -> bool:
        """True once shapes compile on a worker thread (warm_up) rather than when first needed."""

    def compiled_shapes(self) -> list[Shape]:
        """Shapes that run without a compile (empty where nothing compiles)."""

    def bridging_now(self) -> bool:
        """True while batches go to a stand-in engine because compiles are under way."""

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for what warm_up started; True when nothing is left."""


def backend_class(name: str) -> type[Backend]:
    """The backend class registered for `name`."""
    try:
        module, cls = REGISTRY[name].split(":")
    except KeyError:
        raise EngineError(f"unknown engine {name!r}: choose auto, {', '.join(REGISTRY)}") from None
    return getattr(importlib.import_module(module), cls)


def engine_unavailable_reason(name: str) -> str | None:
    """Why engine `name` cannot run here, or None when it can."""
    return backend_class(name).unavailable_reason()


def available_engines() -> list[str]:
    """The registered engines that run here, in the order `auto` tries them."""
    return [name for name in REGISTRY if engine_unavailable_reason(name) is None]


def resolve_engine(choice: str) -> str:
    """Map auto or an engine name to the engine to use; refuse what cannot run, in one line."""
    if choice == "auto":
        usable = available_engines()
        if not usable:
            raise EngineError("no inference engine runs here: " + "; ".join(
                f"{n}: {engine_unavailable_reason(n)}" for n in REGISTRY))
        return usable[0]
    reason = engine_unavailable_reason(choice)  # unknown names are refused here
    if reason:
        others = [n for n in available_engines() if n != choice]
        raise EngineError(reason + (f"; use --engine {others[0]}" if others else ""))
    return choice


def make_backend(name: str, model: ModelFolder, *, progress: Progress | None = None, threads: int = 0,
                 streams: int = 1, compile_jobs: int = 1, shared: dict | None = None) -> Backend:
    """A backend for `model` on engine `name`; `shared` is `shared_options()` when several share them."""
    cls = backend_class(name)
    options = shared if shared is not None else cls.shared_options(threads, streams, compile_jobs)
    return cls(model, progress=progress, **options)
