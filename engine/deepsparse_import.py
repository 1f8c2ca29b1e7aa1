"""Import DeepSparse's engine module without the rest of the package, and say why it cannot run.

`import deepsparse` takes seconds: its __init__ loads pipelines, pydantic schemas and, through
deepsparse.benchmark, all of torch when torch is installed. finterm needs only
`deepsparse.engine` (Engine, MultiModelEngine, Context), so the package and its benchmark
subpackage are stood in for while that one module loads, then taken out of sys.modules again
(a later `import deepsparse` runs the real __init__). Any surprise falls back to the full import.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import sys
import types

_MODULE: types.ModuleType | None = None


def deepsparse_unavailable_reason() -> str | None:
    """Why DeepSparse cannot run here, or None when it can."""
    if sys.version_info >= (3, 12):
        return f"DeepSparse 1.8 needs Python < 3.12 (this is {platform.python_version()})"
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"DeepSparse runs on Linux x86-64 only (this is {platform.system()} {platform.machine()})"
    try:
        import_deepsparse()
    except Exception as exc:  # noqa: BLE001 - ImportError, or the wheel's native loader failing
        return f"DeepSparse is not importable ({exc.__class__.__name__}: {exc})"
    return None


def import_deepsparse() -> types.ModuleType:
    """The module that has `Engine`: `deepsparse.engine` imported lean, else all of deepsparse."""
    global _MODULE
    if _MODULE is not None:
        return _MODULE
    # Importing deepsparse/sparsezoo sends analytics to an outside host with no timeout.
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    try:
        module = _import_engine_module_lean()
    except Exception:  # noqa: BLE001 - any surprise in the lean path: do it the standard way
        import deepsparse

        module = deepsparse
    _MODULE = module
    return module


def _import_engine_module_lean() -> types.ModuleType:
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
