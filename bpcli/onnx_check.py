"""The check of an exported model: onnxruntime runs it on a run's own rows, and its outputs must
equal bpcli's prediction (probabilities and labels, or regression values) to RTOL.

onnxruntime is imported only here, when a check runs (it is not part of the `bpcli[onnx]` extra).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from bpcli.errors import BpcliError, MissingExtra

RTOL = 1e-5
"""The largest relative difference between onnxruntime's outputs and bpcli's that passes."""


@dataclass
class Comparison:
    """onnxruntime's outputs against bpcli's on one split of the run's data."""

    split: str
    rows: int
    max_rel_error: float
    label_mismatches: int | None
    """Rows whose labels differ; None for regression (no labels)."""
    rtol: float = RTOL

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= self.rtol and not self.label_mismatches

    def as_dict(self) -> dict:
        return {**self.__dict__, "passed": self.passed}


def relative_error(actual: np.ndarray, expected: np.ndarray, eps: float) -> float:
    r"""max |a − e| / max(|e|, s) over all cells, with s = 10ε/RTOL·max(1, max |e| of the column).

    ε is the machine epsilon of the less precise side. Differences of a few units in the last place
    of the column's scale are rounding (exp of a very negative logit, 1 − p, sums that cancel near
    0), so values below s are compared as if they were s: in float32, probabilities under 0.12 agree
    to 1.2e-6 absolute, larger ones to 1e-5 relative."""
    expected = np.asarray(expected, np.float64).reshape(len(expected), -1)
    actual = np.asarray(actual, np.float64).reshape(expected.shape)
    scale = np.maximum(1.0, np.abs(expected).max(axis=0, initial=0.0))
    floor = 10 * eps / RTOL * scale
    return float((np.abs(actual - expected) / np.maximum(np.abs(expected), floor)).max(initial=0.0))


def compare(run, path) -> Comparison:
    """Run the model at `path` in onnxruntime on the run's test split (else validation, else train)
    and compare with bpcli's own prediction: probabilities and labels, or regression values."""
    session = _session(path)
    split, X, categorical = _raw_rows(run)
    columns = dict(zip(run.preprocess.numeric_names, X.T, strict=True)) | categorical
    got, model_dtype = _run_model(session, columns, run.task, path)
    eps = max(np.finfo(model_dtype).eps, np.finfo(run.network.dtype).eps)
    if run.task == "regression":
        expected = run.predict(X, categorical)
        return Comparison(split, len(X), relative_error(got["prediction"], expected, eps), None)
    error = relative_error(got["probabilities"], run.predict_proba(X, categorical), eps)
    expected = [str(label) for label in run.predict(X, categorical)]
    mismatches = sum(a != b for a, b in zip(map(str, got["label"].tolist()), expected, strict=True))
    return Comparison(split, len(X), error, mismatches)


def _run_model(session, columns: dict, task: str, path) -> tuple[dict, type]:
    """The model's outputs by name for raw feature columns (by name), and its float type."""
    names = [output.name for output in session.get_outputs()]
    wanted = ["prediction"] if task == "regression" else ["probabilities", "label"]
    if names != wanted:
        raise BpcliError(
            f"{path}: the model's outputs are {names}, a model of this {task} run has {wanted}",
            "export the model from this run with bpcli export",
        )
    outputs = session.run(None, _feeds(session, columns, path))
    dtype = np.float64 if session.get_outputs()[0].type == "tensor(double)" else np.float32
    return dict(zip(names, outputs, strict=True)), dtype


INPUT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(string)": str}
"""onnxruntime's name of an input's type -> the NumPy type its array is fed as."""


def _feeds(session, columns: dict[str, np.ndarray], path) -> dict[str, np.ndarray]:
    """Each input of the model: the feature columns its metadata `inputs` lists, side by side, so the
    check also proves the metadata says what goes where."""
    listed = json.loads(session.get_modelmeta().custom_metadata_map.get("inputs", "{}"))
    declared = {feed.name: feed.type for feed in session.get_inputs()}
    unknown = [name for names in listed.values() for name in names if name not in columns]
    if sorted(listed) != sorted(declared) or unknown:
        raise BpcliError(
            f"{path}: the model's inputs {sorted(declared)} (metadata: {listed}) are not the "
            f"features of this run ({', '.join(columns)})",
            "export the model from this run with bpcli export",
        )
    return {
        name: np.stack([columns[c] for c in listed[name]], axis=1).astype(INPUT_TYPES[kind])
        for name, kind in declared.items()
    }


def require_onnxruntime() -> None:
    """MissingExtra (one line: how to install it) when onnxruntime cannot be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise MissingExtra(
            "bpcli export --check needs onnxruntime: pip install onnxruntime"
        ) from None


def _session(path):
    require_onnxruntime()
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types, not exported stably
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BpcliError(
            f"{path}: onnxruntime {onnxruntime.__version__} cannot load the model ({first})",
            "a lower --opset may help",
        ) from None


def _raw_rows(run) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """The raw rows of the run's test split (else validation, else train) as `Run.predict` takes
    them: the numeric features X (n, d) and the categorical features' cells; and the split's name."""
    data = run.splits()
    split = next(name for name in ("test", "validation", "train") if len(data.splits[name]))
    chosen, prep = data.splits[split], data.preprocess
    numeric = chosen.X[:, : len(prep.numeric_names)]  # the one-hot blocks follow them
    categorical = {name: data.table.categorical[name][chosen.rows] for name in prep.categories}
    return split, prep.restore(numeric), categorical
