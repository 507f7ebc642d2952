r"""ONNX export of a saved run: the whole prediction as one graph, from raw features to labels.

    X (n, d) raw numeric features, in the training column order (all the features of a model
      without categorical ones)
      -> standardise          (X − mean) / std                    (when the run standardised)
    X_categorical (n, c) strings: the categorical features, in the training column order
      -> one-hot              one block per column, 1 at the row's category (all 0 if unseen)
    A_0 = [standardised X, one-hot blocks]                         (as Preprocess.transform)
      -> layer l = 1..L       Z_l = A_{l-1}·W_l + b_l,  A_l = f_l(Z_l)
      -> classification       probabilities (n, K) in the run's class order, label (n,) as in training
         regression           prediction (n, k) = A_L·target_std + target_mean (when the targets
                              were standardized, as Preprocess.decode)

Each stage is one small function driven by the run's Preprocess or one of its layers;
ONNX_ACTIVATIONS writes every bpcli activation as ONNX operators. onnx (the `bpcli[onnx]` extra) is
imported only in this module; onnx_check.py runs the model in onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpcli import __version__
from bpcli.core.activations import GELU_C, GELU_K, LEAKY_SLOPE
from bpcli.errors import BpcliError, MissingExtra
from bpcli.onnx_check import Comparison, compare
from bpcli.runs.atomic import atomic_write
from bpcli.runs.folder import onnx_model_in

DEFAULT_OPSET = 17
MIN_OPSET = 13
"""Opset 13 is the first whose Softmax normalises over one axis, as bpcli's does."""
ML_OPSET = 2
"""ai.onnx.ml version 2 (the only other domain used): LabelEncoder from int64 keys to strings,
OneHotEncoder over string categories."""
NUMERIC_INPUT = "X"
CATEGORICAL_INPUT = "X_categorical"
DTYPES = ("float32", "float64")


def require_onnx() -> None:
    """MissingExtra (one line: how to install it) when onnx cannot be imported."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingExtra('bpcli export needs onnx: pip install "bpcli[onnx]"') from None


def check_options(opset: int, dtype: str) -> None:
    """BpcliError for an opset onnx cannot write or bpcli cannot use, or an unknown dtype."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise BpcliError(
            f"--opset {opset} is not available",
            f"choose {MIN_OPSET}..{newest} (onnx {onnx.__version__}); default {DEFAULT_OPSET}",
        )
    if dtype not in DTYPES:
        raise BpcliError(f"--dtype {dtype} is not available", f"choose one of: {', '.join(DTYPES)}")


# ---------------------------------------------------------------------------- the graph


class Graph:
    """The nodes and constants of one ONNX graph under construction; floats in one dtype."""

    def __init__(self, dtype: str):
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.constants: list = []
        self.domains: set[str] = set()
        """Operator domains beyond the default one that the nodes use (ai.onnx.ml)."""
        self._names: set[str] = set()
        self._scalars: dict[float, str] = {}

    def name(self, hint: str) -> str:
        """`hint`, or hint_2, hint_3, … when taken: every tensor name in a graph is unique."""
        name, number = hint, 1
        while name in self._names:
            number += 1
            name = f"{hint}_{number}"
        self._names.add(name)
        return name

    def constant(self, hint: str, value) -> str:
        """A named constant tensor; floating-point values are cast to the graph's dtype."""
        from onnx import numpy_helper

        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.name(hint)
        self.constants.append(numpy_helper.from_array(array, name))
        return name

    def scalar(self, value: float) -> str:
        """A float constant of shape () in the graph's dtype (one tensor per distinct value)."""
        if value not in self._scalars:
            self._scalars[value] = self.constant(f"c{len(self._scalars)}", value)
        return self._scalars[value]

    def op(
        self, op_type: str, *inputs: str, out: str | None = None, domain: str = "", **attrs
    ) -> str:
        """Append one node with one output; returns the output's name."""
        from onnx import helper

        output = self.name(out or op_type.lower())
        node = helper.make_node(
            op_type, list(inputs), [output], name=output, domain=domain, **attrs
        )
        self.nodes.append(node)
        if domain:
            self.domains.add(domain)
        return output


def _gelu_tanh(g: Graph, Z: str) -> str:
    r"""z/2·(1 + tanh(√(2/π)(z + 0.044715 z³))), from primitives: ONNX's Gelu defaults to the erf form."""
    cube = g.op("Mul", g.op("Mul", Z, Z), Z)
    inner = g.op("Mul", g.op("Add", Z, g.op("Mul", cube, g.scalar(GELU_K))), g.scalar(GELU_C))
    half_z = g.op("Mul", Z, g.scalar(0.5))
    return g.op("Mul", half_z, g.op("Add", g.op("Tanh", inner), g.scalar(1.0)))


ONNX_ACTIVATIONS: dict[str, Callable[[Graph, str], str]] = {
    "identity": lambda g, Z: g.op("Identity", Z),
    "sigmoid": lambda g, Z: g.op("Sigmoid", Z),
    "tanh": lambda g, Z: g.op("Tanh", Z),
    "relu": lambda g, Z: g.op("Relu", Z),
    "leaky_relu": lambda g, Z: g.op("LeakyRelu", Z, alpha=LEAKY_SLOPE),
    "elu": lambda g, Z: g.op("Elu", Z, alpha=1.0),
    "softplus": lambda g, Z: g.op("Softplus", Z),
    "gelu": _gelu_tanh,
    "softmax": lambda g, Z: g.op("Softmax", Z, axis=-1),
}
"""bpcli activation name -> the ONNX operators computing A = f(Z) (see core/activations.py)."""


# ---------------------------------------------------------------------------- the steps


def model_inputs(prep) -> dict[str, list[str]]:
    """The graph's inputs and the feature columns each holds, in order: `X` the numeric features
    (every feature of a model without categorical ones), `X_categorical` the categorical ones (only
    in a model that has some); an input without columns is left out."""
    inputs = {NUMERIC_INPUT: prep.numeric_names, CATEGORICAL_INPUT: list(prep.categories)}
    return {name: columns for name, columns in inputs.items() if columns}


def network_input(g: Graph, prep, inputs: dict[str, list[str]]) -> str:
    """A_0 (n, inputs) as Preprocess.transform: the standardised numeric features, then one one-hot
    block per categorical feature."""
    blocks = []
    if NUMERIC_INPUT in inputs:
        blocks.append(standardize(g, prep, NUMERIC_INPUT))
    if CATEGORICAL_INPUT in inputs:
        blocks += one_hot(g, prep, CATEGORICAL_INPUT)
    return blocks[0] if len(blocks) == 1 else g.op("Concat", *blocks, axis=1, out="A0")


def standardize(g: Graph, prep, X: str) -> str:
    """(X − mean) / std with the training split's statistics, as Preprocess.transform."""
    if prep.mean is None:
        return X
    centred = g.op("Sub", X, g.constant("mean", prep.mean))
    return g.op("Div", centred, g.constant("std", prep.std), out="X_standardized")


def one_hot(g: Graph, prep, cells: str) -> list[str]:
    """One (n, C_j) block per categorical feature j, column j of the string input `cells`, as
    Preprocess.one_hot: 1 in the column of the row's category (ai.onnx.ml OneHotEncoder over the
    saved categories). An unseen category gives a block of zeros with unknown: ignore; with
    unknown: error it makes onnxruntime fail ("Unknown Category", zeros=0), as bpcli refuses it."""
    from onnx import helper

    blocks = []
    for j, categories in enumerate(prep.categories.values()):
        column = g.op(
            "Gather", cells, g.constant(f"column{j}", np.int64(j)), axis=1, out=f"cells{j}"
        )
        block = g.op(
            "OneHotEncoder",
            column,
            domain="ai.onnx.ml",
            cats_strings=categories,
            zeros=int(prep.unknown == "ignore"),
            out=f"one_hot{j}",
        )
        if g.dtype != np.float32:  # OneHotEncoder writes float32
            block = g.op("Cast", block, to=helper.np_dtype_to_tensor_dtype(g.dtype))
        blocks.append(block)
    return blocks


def dense(g: Graph, layer, number: int, A: str) -> str:
    """Z_l = A_{l-1}·W_l + b_l, then A_l = f_l(Z_l)."""
    W, b = g.constant(f"W{number}", layer.W), g.constant(f"b{number}", layer.b)
    Z = g.op("Add", g.op("MatMul", A, W), b, out=f"Z{number}")
    name = layer.activation.name
    if name not in ONNX_ACTIVATIONS:
        raise BpcliError(
            f"layer {number}: activation '{name}' has no ONNX form",
            f"exportable: {', '.join(sorted(ONNX_ACTIVATIONS))}",
        )
    return ONNX_ACTIVATIONS[name](g, Z)


def class_probabilities(g: Graph, prep, A: str) -> str:
    """(n, K) probabilities as `Run.predict_proba`: the softmax output, or [1 − p, p] for a sigmoid."""
    if prep.task == "binary":
        return g.op("Concat", g.op("Sub", g.scalar(1.0), A), A, axis=1, out="probabilities")
    return g.op("Identity", A, out="probabilities")


def class_labels(g: Graph, prep, probabilities: str) -> tuple[str, int]:
    """The most probable class in the original label space, and its ONNX element type: int64 for
    integer labels, otherwise the label's text as `bpcli predict` writes it (ai.onnx.ml LabelEncoder).

    For a sigmoid output, argmax of [1 − p, p] is p > 0.5, as Preprocess.decode."""
    from onnx import TensorProto

    index = g.op("ArgMax", probabilities, axis=1, keepdims=0, out="class_index")
    if all(isinstance(c, int) and not isinstance(c, bool) for c in prep.classes):
        table = g.constant("classes", np.array(prep.classes, np.int64))
        return g.op("Gather", table, index, axis=0, out="label"), TensorProto.INT64
    label = g.op(
        "LabelEncoder",
        index,
        domain="ai.onnx.ml",
        keys_int64s=list(range(len(prep.classes))),
        values_strings=[str(c) for c in prep.classes],
        default_string="",
        out="label",
    )
    return label, TensorProto.STRING


def classifier_outputs(g: Graph, prep, A: str) -> list:
    """`probabilities` (n, K) and `label` (n,) from the last layer's activations A_L."""
    from onnx import helper

    probabilities = class_probabilities(g, prep, A)
    label, label_type = class_labels(g, prep, probabilities)
    floats = helper.np_dtype_to_tensor_dtype(g.dtype)
    return [
        helper.make_tensor_value_info(probabilities, floats, ["N", len(prep.classes)]),
        helper.make_tensor_value_info(label, label_type, ["N"]),
    ]


def regression_outputs(g: Graph, prep, A: str) -> list:
    """`prediction` (n, k): the last layer's activations A_L, in the target's own units
    (A_L·target_std + target_mean when the targets were standardized, as Preprocess.decode)."""
    from onnx import helper

    if prep.target_mean is not None:
        scaled = g.op("Mul", A, g.constant("target_std", prep.target_std))
        A = g.op("Add", scaled, g.constant("target_mean", prep.target_mean))
    prediction = g.op("Identity", A, out="prediction")
    floats = helper.np_dtype_to_tensor_dtype(g.dtype)
    return [helper.make_tensor_value_info(prediction, floats, ["N", prep.outputs])]


OUTPUTS = {
    "classification": classifier_outputs,
    "binary": classifier_outputs,
    "regression": regression_outputs,
}
"""Task -> the step that turns A_L into the graph's outputs (their names, types and shapes)."""


def metadata(run, dtype: str) -> dict[str, str]:
    """The model's metadata_props: what produced it and how to read its inputs and outputs."""
    prep = run.preprocess
    props = {
        "bpcli_version": __version__,
        "config_hash": run.config.digest(),
        "run": run.name,
        "task": prep.task,
        "feature_names": json.dumps(prep.feature_names),
        "inputs": json.dumps(model_inputs(prep)),
        "target_name": prep.target_name,
        "dtype": dtype,
    }
    if prep.categories:
        props["categories"] = json.dumps(prep.categories)
        props["unknown_category"] = prep.unknown
    if prep.classes is not None:
        props["classes"] = json.dumps(prep.classes)
    return props


def input_values(g: Graph, inputs: dict[str, list[str]]) -> list:
    """The graph's input declarations: (N, columns) floats for `X`, strings for `X_categorical`;
    each one's doc_string names its columns."""
    from onnx import TensorProto, helper

    types = {
        NUMERIC_INPUT: helper.np_dtype_to_tensor_dtype(g.dtype),
        CATEGORICAL_INPUT: TensorProto.STRING,
    }
    return [
        helper.make_tensor_value_info(
            g.name(name), types[name], ["N", len(columns)], "columns: " + ", ".join(columns)
        )
        for name, columns in inputs.items()
    ]


def build_model(run, opset: int = DEFAULT_OPSET, dtype: str = "float32"):
    """The onnx.ModelProto of a loaded run's prediction (see the module docstring)."""
    from onnx import helper

    prep = run.preprocess
    g = Graph(dtype)
    inputs = model_inputs(prep)
    features = input_values(g, inputs)
    A = network_input(g, prep, inputs)
    for number, layer in enumerate(run.network.layers, start=1):
        A = dense(g, layer, number, A)
    results = OUTPUTS[prep.task](g, prep, A)
    graph = helper.make_graph(g.nodes, run.name, features, results, initializer=g.constants)
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(domain, ML_OPSET) for domain in sorted(g.domains)]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="bpcli",
        producer_version=__version__,
        doc_string=f"bpcli run {run.name}: {prep.task}, raw features in, predictions out",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    helper.set_model_props(model, metadata(run, dtype))
    return model


# ---------------------------------------------------------------------------- writing


@dataclass
class Exported:
    """What `export_run` did: the model file, its opset and dtype, notes for the user, the check."""

    path: Path
    opset: int
    dtype: str
    notes: list[str] = field(default_factory=list)
    comparison: Comparison | None = None

    def as_dict(self) -> dict:
        check = self.comparison.as_dict() if self.comparison else None
        return {"path": str(self.path), "opset": self.opset, "dtype": self.dtype, "check": check}


def export_run(
    run, out=None, opset: int | None = None, dtype: str | None = None, check: bool = False
) -> Exported:
    """Build, validate (onnx.checker, full check) and atomically write a loaded run's model to `out`
    (a file, or a folder to hold it; default: the run folder); with `check`, `compare` it."""
    import onnx

    opset = DEFAULT_OPSET if opset is None else opset
    check_options(opset, dtype or "float32")
    result = Exported(output_path(run, out), opset, dtype or "float32")
    if dtype is None and run.network.dtype == np.float64:
        result.notes.append(
            "the run computes in float64; the model computes in float32 (--dtype float64 keeps float64)"
        )
    model = build_model(run, result.opset, result.dtype)
    onnx.checker.check_model(model, full_check=True)
    atomic_write(result.path, model.SerializeToString())
    if check:
        result.comparison = compare(run, result.path)
    return result


def output_path(run, out) -> Path:
    """The model file: `out`, or the default name inside `out` (a folder) or the run folder."""
    if out is None:
        return run.folder.onnx_model
    path = Path(out)
    if path.is_dir():
        return onnx_model_in(path)
    if not path.parent.is_dir():
        raise BpcliError(f"-o {path}: folder {path.parent} does not exist")
    return path
