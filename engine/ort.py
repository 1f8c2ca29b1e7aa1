"""ONNX Runtime: runs any ONNX file at any shape the graph allows, with nothing to compile.

The engine where DeepSparse cannot run (Python >= 3.12, ARM, macOS), and the stand-in that
scores while DeepSparse compiles (bridge.py).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

from finterm.errors import EngineError

from .backend import Outputs, Progress, Shape
from .model_folder import ModelFolder
from .tokenization import Encoded


class OrtBackend:
    name = "onnxruntime"
    fixed_shapes = False
    background = False

    def __init__(self, model: ModelFolder, threads: int = 0, progress: Progress | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types; one line for the user
            raise EngineError(f"ONNX Runtime cannot load {model.onnx_path}: {str(exc).splitlines()[0]}") from None
        self._model = model
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.batches = 0
        self.bridged_batches = 0
        self.compile_seconds: dict[Shape, float] = {}

    @staticmethod
    def unavailable_reason() -> str | None:
        return None if importlib.util.find_spec("onnxruntime") else "ONNX Runtime is not installed (pip install onnxruntime)"

    @classmethod
    def shared_options(cls, threads: int, streams: int, compile_jobs: int) -> dict:
        if streams > 1:  # models that run side by side each get their share of the cores
            return {"threads": max(1, (threads or os.cpu_count() or 2) // streams)}
        return {"threads": threads}

    def run(self, enc: Encoded) -> Outputs:
        self.batches += 1
        return self.run_uncounted(enc)

    def run_uncounted(self, enc: Encoded) -> Outputs:
        feeds = enc.feeds(self._model.input_names, self._model.input_dtypes)
        return dict(zip(self._outputs, self._session.run(None, feeds)))

    def warm_up(self, samples: Sequence[Encoded], bridge: str) -> Outputs | None:
        out = None
        for enc in samples:  # the first run of a shape allocates: do it before tweets wait on it
            out = self.run_uncounted(enc)
        return out

    def compiled_shapes(self) -> list[Shape]:
        return []

    def bridging_now(self) -> bool:
        return False

    def wait_ready(self, timeout: float | None = None) -> bool:
        return True
