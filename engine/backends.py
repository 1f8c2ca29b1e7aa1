"""Inference backends behind one call: run(Encoded) -> logits.

DeepSparse compiles one engine per (batch, sequence) shape; they are built on first use
(with a progress line) and cached. ONNX Runtime takes any shape the graph allows.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import EngineError
from .model_folder import ModelFolder
from .tokenization import Encoded

Progress = Callable[[str], None]


def deepsparse_unavailable_reason() -> str | None:
    """Why DeepSparse cannot run here, or None when it can."""
    if sys.version_info >= (3, 12):
        return f"DeepSparse 1.8 needs Python < 3.12 (this is {platform.python_version()})"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"DeepSparse runs on Linux x86-64 only (this is {platform.system()} {platform.machine()})"
    try:
        _import_deepsparse()
    except Exception as exc:  # ImportError, or the wheel's native loader failing
        return f"DeepSparse is not importable ({exc.__class__.__name__}: {exc})"
    return None


def _import_deepsparse():
    # Importing deepsparse/sparsezoo sends analytics to an outside host with no timeout.
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    import deepsparse  # noqa: PLC0415

    return deepsparse


class OrtBackend:
    name = "onnxruntime"

    def __init__(self, model: ModelFolder, threads: int = 0, progress: Progress | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EngineError(f"ONNX Runtime cannot load {model.onnx_path}: {str(exc).splitlines()[0]}") from None
        self._names = model.input_names

    def run(self, enc: Encoded) -> np.ndarray:
        return self._session.run(None, enc.feeds(self._names))[0]


class DeepSparseBackend:
    name = "deepsparse"

    def __init__(self, model: ModelFolder, threads: int = 0, progress: Progress | None = None):
        reason = deepsparse_unavailable_reason()
        if reason:
            raise EngineError(reason)
        self._ds = _import_deepsparse()
        self._model = model
        self._threads = threads or None
        self._progress = progress
        self._engines: dict[tuple[int, int], object] = {}
        self._proto = None

    def compiled_shapes(self) -> list[tuple[int, int]]:
        return sorted(self._engines)

    def engine_for(self, rows: int, seq: int):
        key = (rows, seq)
        eng = self._engines.get(key)
        if eng is None:
            if self._progress:
                self._progress(f"compiling DeepSparse engine for {self._model.name}: batch {rows} × {seq} tokens…")
            t0 = time.perf_counter()
            try:
                with tempfile.TemporaryDirectory(prefix="finterm-ds-") as tmp:
                    fixed = self._write_fixed_shape(Path(tmp) / "model.onnx", rows, seq)
                    eng = self._ds.Engine(model=str(fixed), batch_size=rows, num_cores=self._threads)
            except Exception as exc:
                raise EngineError(
                    f"DeepSparse cannot compile {self._model.onnx_path} for batch {rows} × {seq}: "
                    f"{str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}"
                ) from None
            self._engines[key] = eng
            if self._progress:
                self._progress(f"compiled {self._model.name} {rows}×{seq} in {time.perf_counter() - t0:.1f} s")
        return eng

    def _write_fixed_shape(self, dest: Path, rows: int, seq: int) -> Path:
        """A copy of the model with its input shapes fixed, for DeepSparse to compile.

        Never pass `input_shapes=` to deepsparse.Engine: DeepSparse 1.8 then rewrites the
        ONNX file *in place* with fixed dimensions, silently breaking the model folder.
        """
        import onnx

        if self._proto is None:
            self._proto = onnx.load(str(self._model.onnx_path))
        proto = onnx.ModelProto()
        proto.CopyFrom(self._proto)
        inits = {i.name for i in proto.graph.initializer}
        for inp in proto.graph.input:
            if inp.name not in inits:
                dims = inp.type.tensor_type.shape.dim
                dims[0].dim_value, dims[1].dim_value = rows, seq
        onnx.save(proto, str(dest))
        return dest

    def run(self, enc: Encoded) -> np.ndarray:
        rows, seq = enc.shape
        eng = self.engine_for(rows, seq)
        return eng.run([enc.feeds(self._model.input_names)[n] for n in self._model.input_names])[0]


BACKENDS = {"onnxruntime": OrtBackend, "deepsparse": DeepSparseBackend}


def resolve_engine(choice: str) -> str:
    """Map auto|deepsparse|onnxruntime to the backend to use; refuse what cannot run."""
    if choice not in ("auto", *BACKENDS):
        raise EngineError(f"unknown engine {choice!r}: choose auto, deepsparse or onnxruntime")
    if choice == "auto":
        return "onnxruntime" if deepsparse_unavailable_reason() else "deepsparse"
    if choice == "deepsparse":
        reason = deepsparse_unavailable_reason()
        if reason:
            raise EngineError(f"{reason}; use --engine onnxruntime")
    return choice
