"""DeepSparse: one compiled engine per (rows, tokens) shape, for sparse int8 models on the CPU.

`ShapeEngines` compiles and keeps the engines of one model file. `DeepSparseBackend` is the
registered backend: it compiles on a worker thread once `warm_up` asks (compile_queue.py) and
lets the bridge (bridge.py) decide who scores a batch whose shape is not compiled yet.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from finterm.errors import EngineError

from .backend import Outputs, Progress, Shape
from .bridge import Bridge, Route, check_mode, route
from .compile_queue import CompileGate, CompileQueue
from .deepsparse_import import deepsparse_unavailable_reason, import_deepsparse
from .model_folder import ModelFolder
from .tokenization import Encoded


def deepsparse_context(num_cores: int | None, num_streams: int):
    """A DeepSparse Context: engines made with it share one scheduler and run `num_streams` at once."""
    return import_deepsparse().Context(num_cores=num_cores or None, num_streams=num_streams)


class ShapeEngines:
    """The compiled engines of one model file, one per (rows, tokens) shape, built on request."""

    def __init__(self, model: ModelFolder, threads: int = 0, context: object | None = None,
                 progress: Progress | None = None):
        self._ds = import_deepsparse()
        self._model = model
        self._threads = threads or None
        #: Shared by engines that run at the same time (one stream each); None: an engine of its own.
        self._context = context
        self._progress = progress
        self._engines: dict[Shape, object] = {}
        self._proto = None
        self._proto_lock = threading.Lock()
        #: Seconds each compile took, by shape (for benchmarks and the log).
        self.compile_seconds: dict[Shape, float] = {}

    def get(self, key: Shape):
        return self._engines.get(key)

    def shapes(self) -> list[Shape]:
        return sorted(self._engines)

    def engine_for(self, rows: int, seq: int):
        """The engine for the shape, compiled now if it is not built yet (EngineError if it cannot be)."""
        key = (rows, seq)
        eng = self._engines.get(key)
        if eng is not None:
            return eng
        if self._progress:
            self._progress(f"compiling DeepSparse engine for {self._model.name}: batch {rows} × {seq} tokens…")
        t0 = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="finterm-ds-") as tmp:
                fixed = self._write_fixed_shape(Path(tmp) / "model.onnx", rows, seq)
                if self._context is not None:
                    eng = self._ds.MultiModelEngine(model=str(fixed), batch_size=rows, context=self._context)
                else:
                    eng = self._ds.Engine(model=str(fixed), batch_size=rows, num_cores=self._threads)
        except Exception as exc:  # noqa: BLE001 - any compile failure is reported as one line
            raise EngineError(
                f"DeepSparse cannot compile {self._model.onnx_path} for batch {rows} × {seq}: "
                f"{str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}"
            ) from None
        self.compile_seconds[key] = time.perf_counter() - t0
        self._engines[key] = eng
        if self._progress:
            self._progress(f"compiled {self._model.name} {rows}×{seq} in {self.compile_seconds[key]:.1f} s")
        return eng

    def run(self, eng, enc: Encoded) -> Outputs:
        feeds = enc.feeds(self._model.input_names, self._model.input_dtypes)
        return dict(zip(self._model.output_names, eng.run([feeds[n] for n in self._model.input_names])))

    def forget_parsed_model(self) -> None:
        """Free the parsed ONNX graph: it is needed only while compiling."""
        with self._proto_lock:
            self._proto = None

    def _write_fixed_shape(self, dest: Path, rows: int, seq: int) -> Path:
        """A copy of the model with its input shapes fixed, for DeepSparse to compile.

        Never pass `input_shapes=` to deepsparse.Engine: DeepSparse 1.8 then rewrites the
        ONNX file *in place* with fixed dimensions, silently breaking the model folder.
        """
        import onnx

        with self._proto_lock:
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


class DeepSparseBackend:
    name = "deepsparse"
    fixed_shapes = True

    def __init__(self, model: ModelFolder, threads: int = 0, progress: Progress | None = None,
                 context: object | None = None, compile_gate: CompileGate | None = None):
        reason = deepsparse_unavailable_reason()
        if reason:
            raise EngineError(reason)
        self._model = model
        self.engines = ShapeEngines(model, threads=threads, context=context, progress=progress)
        self.queue = CompileQueue(model.name, compile=lambda key: self.engines.engine_for(*key),
                                  is_ready=lambda key: self.engines.get(key) is not None,
                                  gate=compile_gate, progress=progress, on_idle=self.engines.forget_parsed_model)
        self.bridge = Bridge(model, threads=threads)
        self._mode = "never"
        self._background = False
        self.batches = 0

    @staticmethod
    def unavailable_reason() -> str | None:
        return deepsparse_unavailable_reason()

    @classmethod
    def shared_options(cls, threads: int, streams: int, compile_jobs: int) -> dict:
        # Compiles run on one core each (and release the GIL): batch scoring, which waits for
        # them anyway, runs one per core; live scoring keeps a core free for the tweets.
        options: dict = {"threads": threads, "compile_gate": CompileGate(compile_jobs)}
        if streams > 1:
            options["context"] = deepsparse_context(threads or None, num_streams=streams)
        return options

    @property
    def compile_seconds(self) -> dict[Shape, float]:
        return self.engines.compile_seconds

    @property
    def bridged_batches(self) -> int:
        return self.bridge.batches

    @property
    def background(self) -> bool:
        return self._background

    def compiled_shapes(self) -> list[Shape]:
        return self.engines.shapes()

    def engine_for(self, rows: int, seq: int):
        return self.engines.engine_for(rows, seq)

    def bridging_now(self) -> bool:
        """True while batches go to ONNX Runtime (mode "always", compiles queued or running)."""
        return self._mode == "always" and self.queue.gate.busy()

    def compile_in_background(self, shapes: Sequence[Shape] = (), bridge: str = "always") -> None:
        """Compile `shapes` on the worker thread, in order; meanwhile batches go where `bridge` says."""
        self._mode = check_mode(bridge)
        self._background = True
        if bridge != "never":
            self.bridge.ort()
        for key in shapes:
            self.queue.request(key)

    def warm_up(self, samples: Sequence[Encoded], bridge: str) -> Outputs | None:
        self.compile_in_background([s.shape for s in samples], bridge=bridge)
        if bridge == "never" or not samples:
            return None
        return self.bridge.run(samples[0], counted=False)  # ONNX Runtime's first run allocates: do it now

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self.queue.wait(timeout)

    def run(self, enc: Encoded) -> Outputs:
        key = enc.shape
        self.batches += 1
        ready = self.engines.get(key) is not None
        failed = key in self.queue.failed
        if self._mode == "always" and not ready and not failed:
            self.queue.request(key, urgent=True)
        where = route(self._mode, ready=ready, failed=failed, queued=self.queue.queued(key),
                      any_ready=bool(self.engines.shapes()), compiling=self.bridging_now(), background=self._background)
        if where is Route.STAND_IN:
            return self.bridge.run(enc)
        if where is Route.COMPILE_NOW:
            self.engines.engine_for(*key)
        elif where is Route.WAIT:
            self.queue.wait_for(key)
        eng = self.engines.get(key)
        if eng is None:  # DeepSparse could not compile this shape
            return self.bridge.run(enc)
        return self.engines.run(eng, enc)
