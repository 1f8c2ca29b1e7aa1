"""Inference backends behind one call: run(Encoded) -> logits.

DeepSparse compiles one engine per (batch, sequence) shape; they are built on first use
(with a progress line) and cached. ONNX Runtime takes any shape the graph allows.

A compile takes 1-2 s on one core (it releases the GIL). After
`DeepSparseBackend.compile_in_background()` (what `Classifier.warmup()` turns on) a worker
thread compiles queued shapes. Live feeds (`bridge="always"`) are scored by ONNX Runtime on
the same model file, on the core the compile leaves free, until no compile is left, so no
tweet waits for one. Batch scoring (`bridge="first"`) has ONNX Runtime score only until the
first engine is ready (and rare lengths nobody asked to compile); then a batch waits for its
shape: ONNX Runtime runs these int8 files at a third to a half of DeepSparse's speed
(BENCHMARKS.md).
"""

from __future__ import annotations

import atexit
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from finterm.errors import EngineError

from .model_folder import ModelFolder
from .tokenization import Encoded

Progress = Callable[[str], None]

#: Backends with a compile worker, so the process can let a running compile finish before it
#: exits (ending the interpreter under a compile in progress aborts the process).
_WORKERS: "list[DeepSparseBackend]" = []


#: How much nicer than the process the background compile thread runs (Linux: per thread).
COMPILE_NICENESS = 10


@atexit.register
def _finish_compiles() -> None:
    for backend in list(_WORKERS):
        backend.cancel_pending()
    for backend in list(_WORKERS):
        backend.wait_compiled(timeout=120)


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


_DS_MODULE = None


def _import_deepsparse():
    """The module that has `Engine`: `deepsparse.engine` imported lean, else all of deepsparse.

    `import deepsparse` takes seconds: its __init__ loads pipelines, pydantic schemas and,
    through deepsparse.benchmark, all of torch when torch is installed. finterm needs only
    `deepsparse.engine.Engine`, so the package and its benchmark subpackage are stood in
    for while that one module loads, then taken out of sys.modules again (a later
    `import deepsparse` runs the real __init__). Any failure falls back to the full import.
    """
    global _DS_MODULE
    if _DS_MODULE is not None:
        return _DS_MODULE
    # Importing deepsparse/sparsezoo sends analytics to an outside host with no timeout.
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    try:
        module = _import_engine_module_lean()
    except Exception:  # noqa: BLE001 - any surprise in the lean path: do it the standard way
        import deepsparse  # noqa: PLC0415

        module = deepsparse
    _DS_MODULE = module
    return module


def _import_engine_module_lean():
    import importlib  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415
    import types  # noqa: PLC0415

    if "deepsparse.engine" in sys.modules:
        return sys.modules["deepsparse.engine"]
    if "deepsparse" in sys.modules:  # the real package is loaded already: nothing to save
        return importlib.import_module("deepsparse.engine")
    stubs: dict[str, types.ModuleType] = {}
    try:
        for name in ("deepsparse", "deepsparse.benchmark"):
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.submodule_search_locations:
                raise ImportError(f"no package {name}")
            stub = types.ModuleType(name)
            stub.__spec__, stub.__file__ = spec, spec.origin
            stub.__path__ = list(spec.submodule_search_locations)
            sys.modules[name] = stubs[name] = stub
        # deepsparse.engine takes only BenchmarkResults from deepsparse.benchmark, whose
        # __init__ would import torch through its torchscript engine.
        results = importlib.import_module("deepsparse.benchmark.results")
        stubs["deepsparse.benchmark"].BenchmarkResults = results.BenchmarkResults  # type: ignore[attr-defined]
        module = importlib.import_module("deepsparse.engine")
        if not hasattr(module, "Engine"):
            raise ImportError("deepsparse.engine has no Engine")
        return module
    except BaseException:
        for name in [n for n in sys.modules if n == "deepsparse" or n.startswith("deepsparse.")]:
            del sys.modules[name]
        raise
    finally:
        for name, stub in stubs.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]


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
        self._dtypes = model.input_dtypes

    def run(self, enc: Encoded) -> np.ndarray:
        return self._session.run(None, enc.feeds(self._names, self._dtypes))[0]


def _trimmed(enc: Encoded) -> Encoded:
    """The real rows and tokens of a padded batch (ONNX Runtime takes any shape: padding is waste)."""
    n = max(1, enc.n)
    length = max(1, int(enc.attention_mask[:n].sum(axis=1).max()))
    return Encoded(enc.input_ids[:n, :length], enc.attention_mask[:n, :length], enc.token_type_ids[:n, :length], n)


#: How batches are scored while their DeepSparse shape compiles (see compile_in_background).
BRIDGE_MODES = ("always", "first", "never")


class CompileGate:
    """The DeepSparse compiles of one classifier's backends: how many may run at once, and
    whether any is queued or running. Live scoring stays off DeepSparse meanwhile: its
    threads would fight the compile for a core, so ONNX Runtime scores on the free core
    (bench/e2e.py at 50 tweets/s: arrival-to-scored p99 559 ms before, 54 ms since)."""

    def __init__(self, jobs: int = 1):
        self._slots = threading.Semaphore(max(1, int(jobs)))
        self._backends: list[DeepSparseBackend] = []

    def __enter__(self):
        self._slots.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._slots.release()

    def register(self, backend: "DeepSparseBackend") -> None:
        self._backends.append(backend)

    def busy(self) -> bool:
        return any(b.busy() for b in self._backends)


class DeepSparseBackend:
    name = "deepsparse"

    def __init__(self, model: ModelFolder, threads: int = 0, progress: Progress | None = None,
                 context: object | None = None, compile_gate: CompileGate | None = None):
        reason = deepsparse_unavailable_reason()
        if reason:
            raise EngineError(reason)
        self._ds = _import_deepsparse()
        self._model = model
        self._threads = threads or None
        # ONNX Runtime scores beside a compile that holds one core: on every core it would
        # spin against the compile (batch p99 ~330 ms at 50 tweets/s; bench/e2e.py).
        self._ort_threads = threads or max(1, (os.cpu_count() or 2) - 1)
        #: How many compiles may run at once, shared by the backends of one classifier.
        self._gate = compile_gate or CompileGate(1)
        self._gate.register(self)
        #: A deepsparse Context shared by engines that run at the same time (one stream each).
        self._context = context
        self._progress = progress
        self._engines: dict[tuple[int, int], object] = {}
        self._proto = None
        self._proto_lock = threading.Lock()
        #: Seconds each compile took, by shape (for benchmarks and the log).
        self.compile_seconds: dict[tuple[int, int], float] = {}
        # Background compiling (off until compile_in_background()):
        self._background = False
        self._bridge_mode = "never"
        self._bridge: OrtBackend | None = None
        self._cv = threading.Condition()
        self._pending: list[tuple[int, int]] = []
        self._compiling: tuple[int, int] | None = None
        self._failed: dict[tuple[int, int], str] = {}
        self._worker: threading.Thread | None = None
        #: Batches run, and those scored by ONNX Runtime while their shape was being compiled
        #: (or because DeepSparse could not compile it).
        self.batches = 0
        self.bridged_batches = 0

    def compiled_shapes(self) -> list[tuple[int, int]]:
        return sorted(self._engines)

    @property
    def background(self) -> bool:
        return self._background

    def bridging_now(self) -> bool:
        """True while batches go to ONNX Runtime (compiles queued or running, with `bridge`)."""
        return self._bridge_mode == "always" and self._gate.busy()

    def ort(self) -> OrtBackend:
        """ONNX Runtime on this model file: the bridge while compiling, and for shapes DeepSparse refuses."""
        if self._bridge is None:
            self._bridge = OrtBackend(self._model, threads=self._ort_threads)
        return self._bridge

    def compile_in_background(self, shapes=(), bridge: str = "always") -> None:
        """Compile `shapes` on a worker thread, in order. Meanwhile a batch whose shape is not
        compiled yet is scored by ONNX Runtime (`bridge`: "always"), or by ONNX Runtime until
        this model has its first engine, and afterwards waits for its shape if it is one of
        `shapes` ("first": batch scoring, a first line in about a second; a rare length that
        was not asked for, such as tweets past 64 tokens, costs less on ONNX Runtime than a
        compile), or always waits ("never")."""
        if bridge not in BRIDGE_MODES:
            raise ValueError(f"bridge must be one of {', '.join(BRIDGE_MODES)}")
        self._background = True
        self._bridge_mode = bridge
        if bridge != "never":
            self.ort()
        for rows, seq in shapes:
            self._request((rows, seq))

    def _queued(self, key: tuple[int, int]) -> bool:
        with self._cv:
            return key in self._pending or key == self._compiling

    def busy(self) -> bool:
        """True while shapes are queued or compiling in the background."""
        with self._cv:
            return bool(self._pending) or self._compiling is not None

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait for the background compiles queued so far; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._pending or self._compiling is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _request(self, key: tuple[int, int], urgent: bool = False) -> None:
        with self._cv:
            if key in self._engines or key in self._failed or key in self._pending or key == self._compiling:
                return
            if urgent:  # a shape tweets are waiting on goes before warm-up shapes
                self._pending.insert(0, key)
            else:
                self._pending.append(key)
            self._cv.notify_all()
            if self._worker is None:
                _WORKERS.append(self)
                self._worker = threading.Thread(target=self._compile_worker, name=f"finterm-compile-{self._model.name}",
                                                daemon=True)
                self._worker.start()

    def cancel_pending(self) -> None:
        """Drop the queued compiles (the one running, if any, finishes)."""
        with self._cv:
            self._pending.clear()
            self._cv.notify_all()

    def _compile_worker(self) -> None:
        # Compiles yield the CPU to scoring: at normal priority they took it from the tweets
        # bridged to ONNX Runtime (bench/e2e.py, live 50 tweets/s: p99 219 ms, 42 ms at
        # nice 10; BENCHMARKS.md). DeepSparse's threads started from here inherit it.
        # Relative to the thread's own niceness: under `nice -n 15 finterm` a fixed 10 would
        # raise the compiles above the scoring threads (root may) or fail (others).
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + COMPILE_NICENESS))
        except (AttributeError, OSError):  # not Linux
            pass
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                key = self._pending.pop(0)
                self._compiling = key
            try:
                self._compile(key)
            finally:
                with self._cv:
                    self._compiling = None
                    if not self._pending:
                        with self._proto_lock:
                            self._proto = None  # the parsed model is only needed to compile
                    self._cv.notify_all()

    def _compile(self, key: tuple[int, int]):
        """Compile one shape under the gate; a failure is recorded (ONNX Runtime scores that shape)."""
        try:
            with self._gate:
                return self.engine_for(*key)
        except EngineError as exc:
            self._failed[key] = exc.message
            if self._progress:
                self._progress(f"{exc.message}; ONNX Runtime scores that shape")
        except Exception as exc:  # noqa: BLE001 - never let a worker die silently
            self._failed[key] = f"{exc.__class__.__name__}: {exc}"
        return None

    def _wait_for(self, key: tuple[int, int]):
        """The engine for `key` once compiled: wait for the worker if it has the shape queued
        (moved to the front), else compile it here. None if DeepSparse cannot compile it."""
        with self._cv:
            if key in self._pending:
                self._pending.remove(key)
                self._pending.insert(0, key)
                self._cv.notify_all()
            queued = self._queued(key)
            while queued and key not in self._engines and key not in self._failed:
                self._cv.wait()
        if not queued:
            self._compile(key)
        return self._engines.get(key)

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
                    if self._context is not None:
                        eng = self._ds.MultiModelEngine(model=str(fixed), batch_size=rows, context=self._context)
                    else:
                        eng = self._ds.Engine(model=str(fixed), batch_size=rows, num_cores=self._threads)
            except Exception as exc:
                raise EngineError(
                    f"DeepSparse cannot compile {self._model.onnx_path} for batch {rows} × {seq}: "
                    f"{str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}"
                ) from None
            self.compile_seconds[key] = time.perf_counter() - t0
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

    def run(self, enc: Encoded) -> np.ndarray:
        key = enc.shape
        eng = self._engines.get(key)
        self.batches += 1
        if self._bridge_mode == "always":  # ONNX Runtime meanwhile, until no compile is left
            if eng is None and key not in self._failed:
                self._request(key, urgent=True)
            if eng is None or self.bridging_now():
                return self._on_ort(enc)
        if self._bridge_mode == "first" and eng is None and (not self._engines or not self._queued(key)):
            return self._on_ort(enc)  # before the first engine, or a rare length nobody warmed up
        if eng is None:
            if key in self._failed:  # DeepSparse cannot compile this shape
                return self._on_ort(enc)
            if not self._background:  # no warm-up: compile now, and say why it fails
                eng = self.engine_for(*key)
            else:
                eng = self._wait_for(key)
                if eng is None:
                    return self._on_ort(enc)
        feeds = enc.feeds(self._model.input_names, self._model.input_dtypes)
        return eng.run([feeds[n] for n in self._model.input_names])[0]

    def _on_ort(self, enc: Encoded) -> np.ndarray:
        self.bridged_batches += 1
        if self._model.fixed_batch or self._model.fixed_seq:
            return self.ort().run(enc)
        return self.ort().run(_trimmed(enc))


BACKENDS = {"onnxruntime": OrtBackend, "deepsparse": DeepSparseBackend}


def deepsparse_context(num_cores: int | None, num_streams: int):
    """A DeepSparse Context: engines made with it share one scheduler and run `num_streams` at once."""
    return _import_deepsparse().Context(num_cores=num_cores or None, num_streams=num_streams)


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
