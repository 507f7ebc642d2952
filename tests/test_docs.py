"""docs/backprop.md stays true: its code references exist and bpcli reproduces its worked numbers."""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from pathlib import Path

import numpy as np
import pytest

from bpcli.config import load_config
from bpcli.core.activations import ACTIVATIONS
from bpcli.core.gradcheck import check_gradients
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.explanation import explain_path, render_text
from bpcli.training.experiment import setup
from bpcli.training.loop import final_metrics, fit

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "backprop.md").read_text(encoding="utf-8")
REFERENCE = re.compile(r"`bpcli/([\w/]+)\.py: ([\w.]+)`")
TITLES = [
    "The neuron",
    "Activations and their derivatives",
    "Losses",
    "Derivatives, partial derivatives and the chain rule",
    "Gradient descent",
    "Linear regression by backprop",
    "A hidden layer on XOR",
    "Checking it all: gradcheck",
]


def section(number: int) -> str:
    """The text of section `number` (## N. Title) up to the next section."""
    start = GUIDE.index(f"\n## {number}. ")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start : end if end != -1 else None]


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]


def table(text: str) -> dict[str, list[str]]:
    """Markdown table rows of `text`, keyed by their first cell (without backticks)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].replace("`", "")] = cells[1:]
    return rows


def assert_quoted(quoted: str, actual, places: int):
    """Every number in `quoted` equals `actual` (flattened, row-major) rounded to `places`."""
    expected = np.ravel(actual)
    values = numbers(quoted)
    assert len(values) == expected.size, (quoted, expected)
    assert np.allclose(values, expected, rtol=0, atol=0.6 * 10.0**-places), (quoted, expected)


# ---------------------------------------------------------------------------- structure


def test_the_guide_has_the_eight_sections_in_order():
    found = re.findall(r"^## (\d)\. (.+)$", GUIDE, flags=re.MULTILINE)
    assert found == [(str(i), title) for i, title in enumerate(TITLES, start=1)]


@pytest.mark.parametrize("number", range(1, 9))
def test_every_section_names_code_and_an_existing_config(number):
    text = section(number)
    assert REFERENCE.search(text), f"section {number} names no bpcli function"
    configs = re.findall(r"configs/[\w.]+\.yaml", text)
    assert configs, f"section {number} names no config"
    for config in configs:
        assert (ROOT / config).is_file(), config


def resolves(module_path: str, name: str) -> bool:
    """Whether `bpcli/<module_path>.py: <name>` names an importable module attribute (dotted)."""
    try:
        target = importlib.import_module("bpcli." + module_path.replace("/", "."))
    except ModuleNotFoundError:
        return False
    for part in name.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


def test_every_code_reference_names_something_that_exists():
    references = set(REFERENCE.findall(GUIDE))
    assert len(references) > 40
    missing = [
        f"bpcli/{module}.py: {name}"
        for module, name in sorted(references)
        if not resolves(module, name)
    ]
    assert not missing


def test_a_wrong_reference_would_be_caught():
    assert resolves("core/network", "MLP.backward")
    assert not resolves("core/network", "MLP.backprop")
    assert not resolves("core/netwerk", "MLP")


def test_the_activation_table_covers_every_activation():
    rows = table(section(2))
    assert set(ACTIVATIONS) <= set(rows)


def test_the_optimizer_table_covers_every_optimizer():
    rows = table(section(5))
    assert set(OPTIMIZERS) <= set(rows)


# ---------------------------------------------------------------------------- section 4 and 5


def worked_network() -> tuple[MLP, np.ndarray, np.ndarray]:
    state = {
        "W1": np.array([[0.1, -0.2], [0.3, 0.4]]),
        "b1": np.array([0.0, 0.1]),
        "W2": np.array([[0.5], [-0.6]]),
        "b2": np.array([0.2]),
    }
    return MLP.from_state(state, "sigmoid", "identity", np.float64), np.array([[0.5, 1.0]]), 1.0


def test_section_4_worked_example_is_what_bpcli_computes():
    network, X, y = worked_network()
    Y = np.array([[y]])
    mse = LOSSES["mse"]
    Yhat = network.forward(X).copy()
    loss = network.loss(Y, mse)
    last = network.last_pass
    Z1, A1, Z2 = last.Z[0].copy(), last.A[0].copy(), last.Z[1].copy()
    network.backward(Y, mse)
    dYhat = mse.grad(Y, Z2, Yhat)
    dA1 = dYhat @ network.layers[1].W.T
    derivative = np.empty_like(A1)
    ACTIVATIONS["sigmoid"].backward(np.ones_like(A1), Z1, A1, derivative)
    computed = {
        "Z1": Z1,
        "A1": A1,
        "Z2": Z2,
        "Ŷ": Yhat,
        "L": loss,
        "dŶ": dYhat,
        "dZ2": dYhat,  # identity output: dZ2 = dŶ ⊙ 1
        "dW2": network.layers[1].dW,
        "db2": network.layers[1].db,
        "dA1": dA1,
        "σ'(Z1)": derivative,
        "dZ1": network.layers[0].db,  # one row: db1 = Σ_rows dZ1 = dZ1
        "dW1": network.layers[0].dW,
        "db1": network.layers[0].db,
    }
    rows = table(section(4))
    assert set(computed) <= set(rows)
    for name, value in computed.items():
        assert_quoted(rows[name][-1], value, 6)
    assert np.allclose(dA1 * derivative, network.layers[0].db)


def test_section_4_chain_rule_for_one_weight():
    text = section(4)
    chain = re.search(r"= \((-?[\d.]+)\)\(([\d.]+)\)\(([\d.]+)\)\(([\d.]+)\) = (-?[\d.]+)", text)
    assert chain, "the chain-rule product is missing"
    factors, product = [float(x) for x in chain.groups()[:4]], float(chain.group(5))
    network, X, y = worked_network()
    network.forward(X)
    network.backward(np.array([[y]]), LOSSES["mse"])
    assert math.prod(factors) == pytest.approx(product, abs=1e-6)
    assert product == pytest.approx(network.layers[0].dW[0, 0], abs=1e-6)


def test_section_4_code_runs_and_prints_the_table():
    code = re.search(r"```python\n(.*?)```", section(4), flags=re.DOTALL).group(1)
    namespace: dict = {"print": lambda *args: None}
    exec(code, namespace)
    assert namespace["loss"] == pytest.approx(0.749789, abs=1e-6)
    assert np.allclose(
        namespace["network"].layers[0].dW, [[-0.10499, 0.124826], [-0.209979, 0.249651]], atol=1e-6
    )


def test_section_5_one_gradient_descent_step():
    network, X, y = worked_network()
    Y = np.array([[y]])
    mse = LOSSES["mse"]
    network.forward(X)
    before = network.loss(Y, mse)
    network.backward(Y, mse)
    OPTIMIZERS["sgd"]().step(network.parameters(), 0.1)
    Yhat = network.forward(X).copy()
    after = network.loss(Y, mse)
    rows = table(section(5))
    for name, value in network.state().items():
        assert_quoted(rows[name][-1], value, 6)
    assert_quoted(rows["Ŷ"][-1], Yhat, 6)
    assert_quoted(rows["L"][-1], after, 6)
    assert f"was {before:.6f}" in rows["L"][0]
    assert after < before


# ---------------------------------------------------------------------------- section 6


def test_section_6_linear_regression_matches_least_squares():
    text = section(6)
    experiment = setup(load_config(ROOT / "configs" / "linear_regression.yaml"))
    train = experiment.data.splits["train"]
    A = np.c_[train.X, np.ones(len(train))]
    eigenvalues = np.linalg.eigvalsh(2 / len(train) * A.T @ A)
    assert f"largest eigenvalue {eigenvalues.max():.3f}" in text
    assert f"2 / {eigenvalues.max():.3f} = {2 / eigenvalues.max():.3f}" in text
    assert f"keeps {len(train)} for training" in text

    history = fit(experiment)
    layer = experiment.network.layers[0]
    learned = np.r_[layer.W.ravel(), layer.b]
    solution = np.linalg.lstsq(A, train.Y, rcond=None)[0].ravel()
    rng = np.random.default_rng(np.random.SeedSequence(0).spawn(4)[0])  # setup's data generator
    rng.standard_normal((200, 3))
    generating = np.r_[rng.standard_normal(3), rng.standard_normal()]

    rows = table(text)
    assert_quoted(" ".join(rows["used to generate the data"]), generating, 6)
    assert_quoted(" ".join(rows["bpcli, 300 epochs of gradient descent"]), learned, 6)
    assert_quoted(" ".join(rows["numpy.linalg.lstsq (closed form)"]), solution, 6)
    difference = np.abs(learned - solution).max()
    quoted = float(re.search(r"least-squares ones is ([\d.e-]+)", text).group(1))
    assert difference < 1e-12 and quoted < 1e-12

    mse = np.mean((A @ solution - train.Y.ravel()) ** 2)
    assert f"training MSE {mse:.6f}" in text
    assert final_metrics(experiment)["train"]["loss"] == pytest.approx(mse, abs=1e-9)
    losses = [record["loss"] for record in history.epochs]
    assert f"{losses[0]:.6f} in epoch 1" in text and f"{losses[9]:.6f} in epoch 10" in text


# ---------------------------------------------------------------------------- section 7


def train_xor(overrides):
    experiment = setup(load_config(ROOT / "configs" / "xor.yaml", overrides))
    fit(experiment)
    X = experiment.data.splits["train"].X
    Yhat = experiment.network.predict(X).ravel()
    experiment.network.forward(X)
    return experiment, X, Yhat


def test_section_7_xor_with_and_without_a_hidden_layer():
    text = section(7)
    hidden, X, with_hidden = train_xor([])
    hidden_units = hidden.network.last_pass.A[0].copy()
    linear, _, without = train_xor(["model.hidden=[]"])
    rows = [line for line in text.splitlines() if re.match(r"^\| [01] \| [01] \|", line)]
    assert len(rows) == 4
    for row, x, units, y1, y0 in zip(rows, X, hidden_units, with_hidden, without, strict=True):
        cells = [float(c) for c in row.strip("|").split("|")]
        assert cells[:2] == list(x) and cells[2] == float(x[0] != x[1])
        assert np.allclose(cells[3:5], units, atol=0.002), (row, units)
        assert cells[5] == pytest.approx(y1, abs=0.002) and cells[6] == pytest.approx(y0, abs=0.002)

    scores, baseline = final_metrics(hidden)["train"], final_metrics(linear)["train"]
    assert scores["accuracy"] == 1.0 and baseline["accuracy"] == 0.5
    assert f"training loss {scores['loss']:.4f}, accuracy 1.00" in text
    assert baseline["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert f"loss {math.log(2):.4f} $= \\ln 2$" in text

    W2, b2 = hidden.network.layers[1].W.ravel(), hidden.network.layers[1].b
    assert f"${W2[0]:.2f}$ on unit 1 and $+{W2[1]:.2f}$ on unit 2, bias ${b2[0]:.2f}$" in text


def test_section_7_linear_model_optimum_has_zero_gradient():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0], float)
    residual = 0.5 - y  # ŷ = σ(0) = 1/2 everywhere
    assert np.allclose(np.c_[X, np.ones(4)].T @ residual, 0.0)


# ---------------------------------------------------------------------------- section 8


def xor_checks(wrong_derivative: bool):
    experiment = setup(load_config(ROOT / "configs" / "xor.yaml"))
    if wrong_derivative:

        def forgets_one_minus_f(dA, Z, A, out):
            np.multiply(dA, A, out=out)
            return out

        layer = experiment.network.layers[0]
        layer.activation = dataclasses.replace(layer.activation, backward=forgets_one_minus_f)
    train = experiment.data.splits["train"]
    return check_gradients(experiment.network, train.X, train.Y, experiment.loss)


def test_section_8_gradcheck_numbers():
    text = section(8)
    correct_table, bug_table = text.split("Now plant a typical bug")
    correct = table(correct_table)
    for check in xor_checks(wrong_derivative=False):
        scale, quoted, noise = (float(cell) for cell in correct[check.name])
        assert check.passed and check.skipped == 0
        assert f"{check.scale:.1e}" == f"{scale:.1e}" and f"{check.noise:.1e}" == f"{noise:.1e}"
        assert check.max_rel_error < 1e-9 and quoted < 1e-9
        assert quoted / 10 < check.max_rel_error < quoted * 10  # same order of magnitude

    bug = table(bug_table)
    for check in xor_checks(wrong_derivative=True):
        quoted, verdict = bug[check.name]
        assert verdict == ("pass" if check.passed else "fail")
        if check.passed:
            assert check.name in ("W2", "b2") and check.max_rel_error < 1e-9
        else:
            assert f"{check.max_rel_error:.2f}" == quoted


def test_readme_links_the_guide_and_shows_real_explain_output():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Learn backpropagation") :]
    assert "(docs/backprop.md)" in section
    excerpt = re.search(r"```\n\$ bpcli explain configs/xor.yaml\n(.*?)```", section, re.DOTALL)
    actual = render_text(explain_path(ROOT / "configs" / "xor.yaml"))
    lines = [line for line in excerpt.group(1).splitlines() if line != "..."]
    assert len(lines) > 10
    actual_lines = actual.replace(str(ROOT / "configs"), "configs").splitlines()
    assert all(line in actual_lines for line in lines)
