"""The fused engine: BLAS calls, P = [W; b] blocks, the gradient in factored form, optimizer steps fused
into the gradient's GEMM, and the training loop's choice between the fused and the plain step."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from bpcli.config import validate
from bpcli.core import blas
from bpcli.core.gradcheck import Objective
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.training.experiment import setup
from bpcli.training.guard import BatchGuard, TrainingInterrupted
from bpcli.training.loop import GRADIENT_SAMPLES, BatchLoader, fit, sampled, train_epoch

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def random(rng, shape, dtype, order="C"):
    return np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("orders", ["CC", "CF", "FC", "FF"])
def test_gemm_is_alpha_a_b_plus_beta_c_in_place(dtype, orders):
    rng = np.random.default_rng(0)
    A, B = random(rng, (5, 7), dtype, orders[0]), random(rng, (7, 3), dtype, orders[1])
    C = random(rng, (5, 3), dtype)
    expected = -0.5 * (A.astype(np.float64) @ B) + 0.25 * C
    out = blas.gemm(A, B, C, alpha=-0.5, beta=0.25)
    assert out is C
    np.testing.assert_allclose(C, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_gemm_with_beta_zero_never_reads_the_output():
    A, B = np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)
    C = np.full((2, 2), np.nan, np.float32)
    np.testing.assert_array_equal(blas.gemm(A, B, C), [[2, 2], [2, 2]])


def test_gemm_refuses_what_blas_would_silently_copy():
    A = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous output"):
        blas.gemm(A, A, np.ones((4, 4), np.float32, order="F"))
    with pytest.raises(ValueError, match="contiguous"):
        blas.gemm(A[:, ::2], A[::2], np.ones((4, 4), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy_and_dot(dtype):
    rng = np.random.default_rng(1)
    x, y = random(rng, (3, 4), dtype), random(rng, (3, 4), dtype)
    expected = 2.5 * x + y
    assert blas.dot(x, y) == pytest.approx(float(np.sum(x.astype(np.float64) * y)), rel=1e-5)
    assert blas.axpy(2.5, x, y) is y
    np.testing.assert_allclose(y, expected, rtol=TOLERANCE[dtype])
    with pytest.raises(ValueError, match="one shape"):
        blas.axpy(1.0, x, y[:2])


def net(dtype=np.float32, seed=0, widths=(6, 8, 5, 3)):
    return MLP.build(
        list(widths), "relu", "softmax", "he_normal", np.random.default_rng(seed), dtype
    )


def batch(dtype, rows=9, seed=2):
    rng = np.random.default_rng(seed)
    return random(rng, (rows, 6), dtype), rng.integers(0, 3, rows)


def test_w_and_b_are_views_of_one_block_per_layer():
    network = net()
    params = network.parameters()
    for layer, W, b in zip(network.layers, params[::2], params[1::2], strict=True):
        assert np.shares_memory(W.value, layer.P) and np.shares_memory(b.value, layer.P)
        assert np.shares_memory(W.grad, layer.dP) and np.shares_memory(b.grad, layer.dP)
        assert (W.name[0], b.name[0], W.decay, b.decay) == ("W", "b", True, False)
    layer = network.layers[0]
    layer.W = 0.0  # assignment writes into P, it does not rebind the view
    layer.b += 1.0
    np.testing.assert_array_equal(layer.P[:-1], 0.0)
    np.testing.assert_array_equal(layer.P[-1], 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_into_is_alpha_times_the_ones_augmented_product_plus_beta(dtype):
    rng = np.random.default_rng(3)
    network = net(dtype)
    X, Y = batch(dtype)
    network.forward(X)
    seen = {}
    network.backward(Y, LOSSES["cross_entropy"], lambda layer, g: seen.setdefault(id(layer), g))
    for layer, A_in in zip(network.layers, network.last_pass.inputs, strict=True):
        gradient = seen[id(layer)]
        H = np.hstack([A_in, np.ones((len(A_in), 1))])  # [A 1]
        C = random(rng, layer.P.shape, dtype)
        expected = 0.5 * H.T @ gradient.dZ + 0.75 * C
        expected[-1] = 0.5 * gradient.dZ.sum(axis=0) + 2.0 * C[-1]
        gradient.into(C, 0.5, 0.75, bias_beta=2.0)
        np.testing.assert_allclose(C, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_backward_with_an_update_writes_no_gradient():
    network = net()
    X, Y = batch(np.float32)
    network.forward(X)
    network.backward(Y, LOSSES["cross_entropy"], lambda layer, gradient: None)
    assert not any(np.any(layer.dP) for layer in network.layers)


FUSED = [name for name, cls in sorted(OPTIMIZERS.items()) if cls.fuses]


def test_plain_sgd_and_momentum_fuse_the_others_do_not():
    assert FUSED == ["momentum", "sgd"]
    network, (X, Y) = net(), batch(np.float32)
    network.forward(X)
    with pytest.raises(NotImplementedError, match="adam has no fused form"):
        OPTIMIZERS["adam"]().fused_step(network, Y, LOSSES["cross_entropy"], 0.1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay", [0.0, 0.05])
@pytest.mark.parametrize("name", FUSED)
def test_fused_steps_follow_the_plain_rule(name, decay, dtype):
    loss = LOSSES["cross_entropy"]
    plain, fused = net(dtype), net(dtype)
    plain_opt, fused_opt = (
        OPTIMIZERS[name](weight_decay=decay),
        OPTIMIZERS[name](weight_decay=decay),
    )
    for seed in range(4):  # several steps: the velocity carries over
        X, Y = batch(dtype, seed=seed)
        plain.forward(X)
        plain.backward(Y, loss)
        plain_opt.step(plain.parameters(), 0.1)
        fused.forward(X)
        fused_opt.fused_step(fused, Y, loss, 0.1)
    for p, q in zip(plain.parameters(), fused.parameters(), strict=True):
        np.testing.assert_allclose(q.value, p.value, rtol=20 * TOLERANCE[dtype], err_msg=p.name)
    assert sorted(fused_opt.state) == sorted(plain_opt.state) and fused_opt.steps == 4
    for key, value in plain_opt.state.items():
        np.testing.assert_allclose(fused_opt.state[key], value, rtol=20 * TOLERANCE[dtype])


def test_a_fused_sgd_step_applies_the_gradient_that_gradcheck_checks():
    # gradcheck compares Objective.gradient (backprop + λW) with central differences; the fused
    # step must move θ by exactly −α times that gradient.
    loss, decay, lr = LOSSES["cross_entropy"], 0.01, 0.5
    network = net(np.float64)
    X, Y = batch(np.float64)
    checked = Objective(network.copy(), X, Y, loss, decay).gradient()
    before = {k: v.copy() for k, v in network.state().items()}
    network.forward(X)
    OPTIMIZERS["sgd"](weight_decay=decay).fused_step(network, Y, loss, lr)
    for name, value in network.state().items():
        np.testing.assert_allclose(value, before[name] - lr * checked[name], rtol=1e-12, atol=1e-14)


def test_momentum_state_survives_a_restore_between_fused_steps():
    # the velocity lives in one block per layer; assigning `state` (what resume does) replaces it
    loss = LOSSES["cross_entropy"]
    a, b = net(), net()
    opt_a, opt_b = OPTIMIZERS["momentum"](), OPTIMIZERS["momentum"]()
    for seed in range(2):
        X, Y = batch(np.float32, seed=seed)
        for network, opt in ((a, opt_a), (b, opt_b)):
            network.forward(X)
            opt.fused_step(network, Y, loss, 0.1)
    opt_b.state = {k: v.copy() for k, v in opt_b.state.items()}  # as training.state.restore does
    for seed in range(2, 4):
        X, Y = batch(np.float32, seed=seed)
        for network, opt in ((a, opt_a), (b, opt_b)):
            network.forward(X)
            opt.fused_step(network, Y, loss, 0.1)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value, err_msg=p.name)


def many_batches_config(optimizer="momentum", **training) -> dict:
    """moons in batches of 4: 60 batches an epoch, so most batches take the fused step."""
    return {
        "seed": 3,
        "data": {"source": "moons", "n_samples": 300, "validation_split": 0.1, "test_split": 0.1},
        "model": {"hidden": [16, 8], "activation": "relu", "init": "he_normal"},
        "optimizer": {"name": optimizer, "lr": 0.05, "weight_decay": 0.001},
        "training": {"epochs": 4, "batch_size": 4, **training},
    }


def test_sampled_batches_are_the_first_then_evenly_spaced():
    short = 2 * GRADIENT_SAMPLES - 1
    assert [i for i in range(short) if sampled(i, short)] == list(range(short))  # all
    picked = [i for i in range(100) if sampled(i, 100)]
    assert picked[0] == 0 and len(picked) >= GRADIENT_SAMPLES
    assert set(np.diff(picked)) == {100 // GRADIENT_SAMPLES}


class Recorder:
    def __init__(self):
        self.backward, self.steps = 0, 0

    def after_backward(self, network):
        self.backward += 1

    def after_step(self, network):
        self.steps += 1


@pytest.mark.parametrize(
    ("optimizer", "clip", "plain"), [("sgd", None, False), ("sgd", 1.0, True), ("adam", None, True)]
)
def test_the_loop_takes_the_plain_step_on_sampled_batches_only(optimizer, clip, plain):
    experiment = setup(validate(many_batches_config(optimizer, clip_grad_norm=clip)))
    batches = BatchLoader(experiment.data.splits["train"], 4, True, experiment.shuffle_rng)
    recorder = Recorder()
    train_epoch(experiment, batches, 0.05, BatchGuard(experiment.network, clip), recorder)
    expected = len(batches) if plain else sum(sampled(i, len(batches)) for i in range(len(batches)))
    assert len(batches) == 60 and (recorder.backward, recorder.steps) == (expected, expected)
    assert experiment.optimizer.steps == len(batches)


def weights_after(config: dict) -> dict:
    experiment = setup(validate(config))
    fit(experiment)
    return experiment.network.state()


def test_fused_training_is_bitwise_reproducible_and_learns():
    a, b = weights_after(many_batches_config()), weights_after(many_batches_config())
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    experiment = setup(validate(many_batches_config()))
    history = fit(experiment)
    assert history.epochs[-1]["loss"] < 0.5 * history.epochs[0]["loss"]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_fused_training_stopped_and_resumed_is_bitwise_identical(optimizer):
    config = validate(many_batches_config(optimizer))
    whole = setup(config)
    fit(whole)
    first, seen = setup(config), []
    with pytest.raises(TrainingInterrupted) as stop:
        fit(first, seen.append, should_stop=lambda: signal.SIGINT if len(seen) >= 2 else None)
    resumed = setup(validate(many_batches_config(optimizer)))
    fit(resumed, resume=stop.value.state)
    a, b = whole.network.state(), resumed.network.state()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
