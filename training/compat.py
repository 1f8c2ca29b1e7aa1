"""Small fixes that let SparseML 1.8 run on the pinned torch 2.13.

- torch's QConfig is a NamedTuple with `__slots__ = ()`; SparseML tags each qconfig with
  `.quantization_scheme`, which then raises AttributeError and QAT never starts. A subclass
  without slots carries the attribute and is still a QConfig to torch.
- SparseML's modifier logger writes `sparse_logs/` into the current directory; a file
  handler given up front sends those logs into the run folder instead.
- On the GPU machine (STACK.md): onnx >= 1.16 has no `onnx.mapping`, which sparsezoo imports at
  import time, and setuptools >= 81 has no `pkg_resources`, which sparseml imports; small stand-ins
  are registered only where the real module is missing.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

_patched = False


def ensure_onnx_mapping() -> None:
    """Register `onnx.mapping` (TENSOR_TYPE_TO_NP_TYPE, NP_TYPE_TO_TENSOR_TYPE) where onnx dropped it."""
    import onnx

    try:
        import onnx.mapping  # noqa: F401
        return
    except ImportError:
        pass
    from onnx import helper

    to_np = {}
    for code in onnx.TensorProto.DataType.values():
        try:
            to_np[code] = helper.tensor_dtype_to_np_dtype(code)
        except Exception:  # noqa: BLE001 - types numpy cannot hold (strings, float8...) are left out
            continue
    mod = types.ModuleType("onnx.mapping")
    mod.TENSOR_TYPE_TO_NP_TYPE = to_np
    mod.NP_TYPE_TO_TENSOR_TYPE = {v: k for k, v in reversed(list(to_np.items()))}
    sys.modules["onnx.mapping"] = mod
    onnx.mapping = mod


def ensure_pkg_resources() -> None:
    """A `pkg_resources` with the one call sparseml makes (get_distribution(name).version) where it is gone."""
    try:
        import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    from importlib import metadata

    mod = types.ModuleType("pkg_resources")
    mod.get_distribution = lambda name: types.SimpleNamespace(version=metadata.version(name))
    sys.modules["pkg_resources"] = mod


def patch_sparseml(log_dir: Path | None = None) -> None:
    global _patched
    if log_dir is not None:
        lg = logging.getLogger("sparseml.pytorch.utils.logger")
        if not any(isinstance(h, logging.FileHandler) for h in lg.handlers):
            log_dir.mkdir(parents=True, exist_ok=True)
            h = logging.FileHandler(log_dir / "sparseml.log", delay=True)
            h.setLevel(logging.DEBUG)
            lg.addHandler(h)
    if _patched:
        return
    ensure_onnx_mapping()
    ensure_pkg_resources()
    import sparseml.pytorch.sparsification.quantization.quantization_scheme as qs
    from torch.ao.quantization import QConfig

    if getattr(QConfig, "__slots__", None) is not None:

        class QConfigWithScheme(QConfig):
            """A QConfig that can carry SparseML's `quantization_scheme` attribute."""

        original = qs._get_qconfig

        def _get_qconfig(activation_args, weight_args):
            q = original(activation_args, weight_args)
            return QConfigWithScheme(activation=q.activation, weight=q.weight)

        qs._get_qconfig = _get_qconfig
    _patched = True
