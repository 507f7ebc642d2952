"""bpcli: train multilayer perceptrons from YAML with hand-written NumPy backpropagation.

The public Python API (bpcli/api.py): `bpcli.train`, `bpcli.resume`, `bpcli.load`, `bpcli.Run`,
`bpcli.validate`, `bpcli.gradcheck`, `bpcli.explain`, `bpcli.export`, `bpcli.sweep`,
`bpcli.list_runs`, `bpcli.load_config`. They are imported on first use, so that `import bpcli` (and
`bpcli --version`) stays fast. Imports are deferred in three places only: here, in the command
modules (bpcli/commands/), and for optional extras (matplotlib in plots.py, onnx and onnxruntime in
onnx_export.py, ray in sweeps/backends.py).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "train": "bpcli.api",
    "resume": "bpcli.api",
    "load": "bpcli.api",
    "validate": "bpcli.api",
    "gradcheck": "bpcli.api",
    "explain": "bpcli.api",
    "export": "bpcli.api",
    "Run": "bpcli.api",
    "inspect": "bpcli.api",
    "predict_csv": "bpcli.api",
    "plot_curves": "bpcli.api",
    "plot_boundary": "bpcli.api",
    "plot_sweep": "bpcli.api",
    "sweep": "bpcli.api",
    "resume_sweep": "bpcli.api",
    "list_runs": "bpcli.api",
    "Listener": "bpcli.api",
    "load_config": "bpcli.config",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'bpcli' has no attribute {name!r}")
