"""`bpcli explain`: its shapes match a real forward and backward pass; its formulas are the registries'."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.config import load_config
from bpcli.core.activations import ACTIVATIONS
from bpcli.core.losses import LOSSES
from bpcli.core.optimizers import OPTIMIZERS, Adam, AdamW
from bpcli.core.schedules import SCHEDULES
from bpcli.explanation import explain_path, render_markdown, render_text, shapes_text
from bpcli.training.experiment import setup

runner = CliRunner()
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
EQUATION = re.compile(r"^  (d?[ZAWbD]\d+) = ")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def parse_shape(token: str) -> tuple[int, ...]:
    """`4×2` -> (4, 2); `(2,)` -> (2,)."""
    token = token.strip("()").rstrip(",")
    return tuple(int(part) for part in token.split("×"))


def printed_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """The result shape (the last column) of every equation line that defines an array."""
    shapes = {}
    for line in text.splitlines():
        match = EQUATION.match(line)
        if match:
            shapes[match.group(1)] = parse_shape(line.split()[-1])
    return shapes


class RecordingLoss:
    """A loss that records the shape of the output delta dZ_L that backprop really computes."""

    def __init__(self, loss, shapes):
        self.loss, self.shapes = loss, shapes

    def __getattr__(self, name):
        return getattr(self.loss, name)

    def output_delta(self, Y, Z, Yhat, activation, out, weights=None):
        result = self.loss.output_delta(Y, Z, Yhat, activation, out, weights)
        self.shapes["output_delta"] = result.shape
        return result


def real_shapes(config_path, overrides, rows) -> dict[str, tuple[int, ...]]:
    """Shapes of X, every Z, A (D with dropout), dA (dD), dZ, dW, db in one forward and backward
    pass on `rows` rows, in training mode."""
    experiment = setup(load_config(config_path, overrides))
    network, split = experiment.network, experiment.data.splits["train"]
    X, Y = split.X[:rows], split.Y[:rows]
    assert X.shape[0] == rows
    shapes: dict[str, tuple[int, ...]] = {"A0": X.shape}
    for number, layer in enumerate(network.layers, start=1):

        def backward(dA, Z, A, out, number=number, original=layer.activation.backward):
            result = original(dA, Z, A, out)
            shapes[f"dA{number}"], shapes[f"dZ{number}"] = dA.shape, result.shape
            return result

        layer.activation = dataclasses.replace(layer.activation, backward=backward)
    network.forward(X, dropout_rng=experiment.dropout_rng)
    network.backward(Y, RecordingLoss(experiment.loss, shapes))
    last = len(network.layers)
    shapes[f"dZ{last}"] = shapes.pop("output_delta")
    for number, mask in enumerate(network.last_pass.masks, start=1):
        if mask is not None:  # dD_l = dZ_{l+1}·W_{l+1}ᵀ is masked into dA_l where it stands
            shapes[f"D{number}"] = network.last_pass.inputs[number].shape
            shapes[f"dD{number}"] = shapes[f"dA{number}"]
    for number, (layer, Z, A) in enumerate(
        zip(network.layers, network.last_pass.Z, network.last_pass.A, strict=True), start=1
    ):
        shapes.update({f"Z{number}": Z.shape, f"A{number}": A.shape})
        shapes.update({f"dW{number}": layer.dW.shape, f"db{number}": layer.db.shape})
    return shapes


# ---------------------------------------------------------------------------- registries


def balanced(latex: str) -> bool:
    """Whether the braces of a LaTeX formula pair up (and it is not wrapped in $ signs)."""
    depth = 0
    for char in latex:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0 and "$" not in latex


def test_balanced_catches_broken_latex():
    assert balanced(r"\frac{1}{2}") and not balanced(r"\frac{1}{2")
    assert not balanced("}{") and not balanced("$x$")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_has_its_formulas(name):
    activation = ACTIVATIONS[name]
    per_row = name == "softmax"  # softmax's derivative is the vector-Jacobian product over a row
    value, slope = ("f(z)_i = ", "dZ_i = ") if per_row else ("f(z) = ", "f'(z) = ")
    for text in (activation.formula, activation.formula_latex):
        assert text.startswith(value) and "z" in text[len(value) :], text
    for text in (activation.derivative, activation.derivative_latex):
        assert text.startswith(slope) and len(text) > len(slope), text
    assert balanced(activation.formula_latex) and balanced(activation.derivative_latex)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_its_formulas(name):
    """A fused loss (softmax/sigmoid output) gives dL/dz; the others dL/dŷ, then the chain rule."""
    loss = LOSSES[name]
    fused = loss.output_activation is not None
    assert loss.formula.startswith("L = ") and loss.formula_latex.startswith("L = ")
    assert loss.gradient.startswith("dL/dz = " if fused else "dL/dŷ = ")
    partial = (
        r"\frac{\partial L}{\partial Z} = " if fused else r"\frac{\partial L}{\partial \hat Y} = "
    )
    assert loss.gradient_latex.startswith(partial)
    assert balanced(loss.formula_latex) and balanced(loss.gradient_latex)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_has_its_rule(name):
    cls = OPTIMIZERS[name]
    assert "θ ←" in cls.rule and r"\theta \leftarrow" in cls.rule_latex


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_documents_its_formula(name):
    assert inspect.getdoc(SCHEDULES[name]).startswith("α_e = ")


# ---------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_printed_shapes_match_a_real_forward_and_backward_pass(config):
    result = invoke("explain", config, "--batch", 3)
    assert result.exit_code == 0, result.output
    printed = printed_shapes(result.stdout)
    real = real_shapes(config, [], 3)
    assert printed == real
    assert explain_path(config, 3).shapes() == {**real, "L": ()}


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.output_activation=softmax", "model.activation=gelu"],  # softmax without fusion
        ["model.hidden=[5, 4, 3]", "model.activation=leaky_relu", "loss=huber"],
        ["model.hidden=[]", "loss=mae"],
    ],
)
def test_shapes_match_for_other_networks_and_losses(overrides):
    config = CONFIG_DIR / "sine.yaml"
    args = [a for o in overrides for a in ("--set", o)]
    result = invoke("explain", config, "--batch", 7, *args)
    assert result.exit_code == 0, result.output
    assert printed_shapes(result.stdout) == real_shapes(config, overrides, 7)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_default_batch_is_the_first_training_batch(config):
    resolved = load_config(config)
    rows = min(resolved.training.batch_size, len(setup(resolved).data.splits["train"]))
    explanation = explain_path(config)
    assert explanation.batch == rows
    assert explanation.shapes()["A0"][0] == rows


def test_batch_is_capped_by_the_training_rows_only_by_default():
    config = CONFIG_DIR / "linear_regression.yaml"
    assert explain_path(config).batch == 140  # batch_size 200, but 140 training rows
    text = render_text(explain_path(config))
    assert "140 training rows / batch_size 200 -> 1 update per epoch" in text
    assert explain_path(config, 200).shapes()["Z1"] == (200, 1)


# ---------------------------------------------------------------------------- content


def test_xor_explanation_uses_the_registry_formulas():
    result = invoke("explain", CONFIG_DIR / "xor.yaml")
    assert result.exit_code == 0, result.output
    text = result.stdout
    sigmoid = ACTIVATIONS["sigmoid"]
    assert sigmoid.formula in text and sigmoid.derivative in text
    assert "dZ2 = dL/dz = (ŷ − y) / (n k)" in text and "sigmoid and BCE fused" in text
    assert Adam.rule in text and "α = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-08" in text
    assert "Z1 = A0·W1 + b1        (4×2)·(2×2) + (2,) -> 4×2" in text
    assert "dW1 = A0ᵀ·dZ1" in text and "db1 = Σ_rows dZ1" in text
    assert "dZ1 = dA1 ⊙ sigmoid'(Z1)" in text
    assert "mean over all n·k = 4·1 elements" in text
    assert text.rstrip().endswith("= 9 parameters")
    assert result.stderr == ""


def test_cross_entropy_is_a_mean_over_rows_with_class_indices():
    text = render_text(explain_path(CONFIG_DIR / "digits.yaml", 32))
    assert "L = cross_entropy(Ŷ, Y)   (32×10), (32,) -> scalar" in text
    assert "mean over the n = 32 rows" in text
    assert "dZ3 = dL/dz = (ŷ − onehot(y)) / n" in text
    assert "= 6,570 parameters" in text


def test_unfused_output_goes_through_the_activation_derivative():
    config = CONFIG_DIR / "sine.yaml"
    text = render_text(explain_path(config, 4))
    assert "dA3 = dL/dŷ = 2 (ŷ − y) / (n k)" in text
    assert "dZ3 = dA3 ⊙ identity'(Z3)" in text
    softmax = render_text(explain_path(config, 4, ["model.output_activation=softmax"]))
    assert "dZ3 = softmax'(Z3)ᵀ·dA3, row by row" in softmax
    assert ACTIVATIONS["softmax"].derivative in softmax


def test_weight_decay_and_schedules_are_written_out():
    config = CONFIG_DIR / "breast_cancer.yaml"
    text = render_text(explain_path(config, 8))
    assert "g = dW_l + λ W_l  (weights);  g = db_l  (biases)" in text and "λ = 0.0001" in text
    adamw = render_text(
        explain_path(
            config,
            8,
            ["optimizer.name=adamw", "optimizer.weight_decay=0.01", "optimizer.schedule=step"],
        )
    )
    assert AdamW.rule in adamw and Adam.rule in adamw and "λ = 0.01" in adamw
    assert "g = dW_l" not in adamw  # decoupled: the decay is in the rule, not the gradient
    assert "α_e = α γ^floor(e / step_size), with γ = 0.5, step_size = 10" in adamw
    sgd = render_text(explain_path(config, 8, ["optimizer.name=sgd", "optimizer.weight_decay=0"]))
    assert "with α = 0.001\n" in sgd and "t counts" not in sgd


def test_markdown_has_latex_math_and_the_same_shapes():
    config = CONFIG_DIR / "xor.yaml"
    result = invoke("explain", config, "--markdown")
    assert result.exit_code == 0, result.output
    markdown = result.stdout
    assert markdown.startswith("# bpcli explain: xor")
    assert "## Forward pass" in markdown and "## Backward pass" in markdown
    assert r"$Z_{1} = A_{0} W_{1} + b_{1}$ — `(4×2)·(2×2) + (2,) -> 4×2`" in markdown
    assert f"${ACTIVATIONS['sigmoid'].derivative_latex}$" in markdown
    assert LOSSES["binary_cross_entropy"].gradient_latex in markdown
    assert Adam.rule_latex in markdown and r"\varepsilon = 10^{-8}" in markdown
    assert markdown.count("$") % 2 == 0
    explanation = explain_path(config)
    shaped = [shapes_text(line) for s in explanation.sections for line in s.lines if line.name]
    assert len(shaped) == 13  # A0, Z1, A1, Z2, A2, L, dZ2, dW2, db2, dA1, dZ1, dW1, db1
    assert re.findall(r" — `([^`]+)`", render_markdown(explanation)) == shaped
    text_lines = render_text(explanation).splitlines()
    assert all(any(line.endswith(shape) for line in text_lines) for shape in shaped)


def test_markdown_writes_small_numbers_as_powers_of_ten():
    explanation = explain_path(CONFIG_DIR / "xor.yaml", None, ["optimizer.lr=2.5e-5"])
    settings = r"\alpha = 2.5 \times 10^{-5}, \beta_1 = 0.9, \beta_2 = 0.999, \varepsilon = 10^{-8}"
    assert f"with ${settings}$" in render_markdown(explanation)


# ---------------------------------------------------------------------------- run folders and errors


def test_explain_a_run_folder(write_config, small_config, tmp_path):
    config = write_config(small_config())
    run = tmp_path / "run"
    assert invoke("train", config, "--out", run, "--quiet").exit_code == 0
    from_run = invoke("explain", run, "--batch", 5)
    assert from_run.exit_code == 0, from_run.output
    from_config = invoke("explain", config, "--batch", 5)
    assert printed_shapes(from_run.stdout) == printed_shapes(from_config.stdout)
    assert f"from run folder {run}" in from_run.stdout
    default = explain_path(run)
    assert default.batch == 16  # the config's batch_size: a run folder holds no data


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.yaml"], "missing.yaml: not found"),
        (["{tmp}"], "not a run folder"),
        (["configs/xor.yaml", "--set", "model.activation=sigmoidd"], "did you mean 'sigmoid'"),
        (["configs/xor.yaml", "--batch", "0"], "--batch"),
    ],
)
def test_mistakes_give_one_message_and_exit_2(args, message, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)).replace("configs/", f"{CONFIG_DIR}/") for a in args]
    result = invoke("explain", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stdout == ""
    assert "Traceback" not in result.output


def test_set_is_refused_for_a_run_folder(write_config, small_config, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", write_config(small_config()), "--out", run, "-q").exit_code == 0
    result = invoke("explain", run, "--set", "model.hidden=[3]")
    assert result.exit_code == 2 and "--set applies to a config file" in result.stderr
