"""What docs/backprop.md claims about the code is what the code does: which derivatives read A and
which read Z, gelu's tanh form, how the cross-entropy value is computed, the gradient check's scale."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bpcli.core.activations import ACTIVATIONS
from bpcli.core.gradcheck import NOISE
from bpcli.core.losses import LOSSES

GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "backprop.md").read_text("utf-8")


def section(number: int) -> str:
    start = GUIDE.index(f"\n## {number}. ")
    end = GUIDE.find("\n## ", start + 1)
    return " ".join(GUIDE[start:end].split())


def derivative_inputs() -> tuple[list[str], list[str]]:
    """The activations section 2 says read A, and those it says read Z."""
    found = re.search(r"bpcli does so: (.+?) read \$A\$; (.+?) read \$Z\$", section(2))
    assert found, "section 2 no longer says which derivatives read A and which Z"

    def names(text: str) -> list[str]:
        return [name for name in re.findall(r"[a-z_]+", text) if name in ACTIVATIONS]

    return names(found[1]), names(found[2])


def backward(name: str, Z, A) -> np.ndarray:
    activation = ACTIVATIONS[name]
    return activation.backward(np.ones_like(Z), Z, A, np.empty_like(Z))


def test_every_derivative_is_listed_once():
    from_a, from_z = derivative_inputs()
    assert sorted(from_a + from_z) == sorted(set(ACTIVATIONS) - {"identity"})


@pytest.mark.parametrize("name", derivative_inputs()[0])
def test_the_derivatives_said_to_read_a_need_no_z(name):
    Z = np.array([[-2.0, -0.5, 0.5, 2.0]])
    A = ACTIVATIONS[name].forward(Z, np.empty_like(Z))
    nan = np.full_like(Z, np.nan)
    negative_only = name == "elu"  # elu reads A for z < 0 and the sign of z
    expected = backward(name, Z, A)
    if negative_only:
        np.testing.assert_array_equal(
            backward(name, np.full_like(Z, -1.0), A)[:, :2], expected[:, :2]
        )
    else:
        np.testing.assert_array_equal(backward(name, nan, A), expected)


@pytest.mark.parametrize("name", derivative_inputs()[1])
def test_the_derivatives_said_to_read_z_need_no_a(name):
    Z = np.array([[-2.0, -0.5, 0.5, 2.0]])
    A = ACTIVATIONS[name].forward(Z, np.empty_like(Z))
    np.testing.assert_array_equal(backward(name, Z, np.full_like(Z, np.nan)), backward(name, Z, A))


def test_gelu_is_documented_as_the_tanh_approximation():
    assert "**gelu** is the *tanh approximation*" in section(2)
    assert "tanh approximation" in ACTIVATIONS["gelu"].formula


def test_the_cross_entropy_value_is_documented_as_computed():
    text = section(3)
    assert "reads $-\\log \\hat y_{i, c_i}$ off the softmax output" in text
    assert "falls back to log-sum-exp" in text
    loss = LOSSES["cross_entropy"]
    Z = np.array([[800.0, 0.0, -800.0]])  # softmax underflows: the fallback must be used
    Yhat = ACTIVATIONS["softmax"].forward(Z, np.empty_like(Z))
    assert loss.value(np.array([2]), Z, Yhat) == pytest.approx(1600.0)


def test_section_8_states_the_noise_bound_the_code_uses():
    text = section(8)
    assert r"\eta = 4 \cdot 2^{-52} \max(1, |J|) / \varepsilon" in text
    assert NOISE == 4 * 2.0**-52
    assert r"|a_i - n_i| > \max(\text{tol} \cdot s_T,\ \eta)" in text
    assert "10^{-3}" not in text  # the old global floor is gone
