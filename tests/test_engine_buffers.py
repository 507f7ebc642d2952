"""The lean training engine: reused buffers, in-place updates and float32 end to end give the same
numbers as fresh computation; the data path keeps no needless copy."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli.config import validate
from bpcli.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.data.files import all_finite, load_numpy
from bpcli.training.experiment import setup
from bpcli.training.guard import BatchGuard
from bpcli.training.loop import BatchLoader, train_epoch


def small_net(activation="relu", dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return MLP.build([6, 8, 5, 3], activation, "softmax", "he_normal", rng, dtype)


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_buffers_reused_across_batch_sizes_match_a_fresh_network(activation):
    loss = LOSSES["cross_entropy"]
    rng = np.random.default_rng(1)
    reused = small_net(activation)
    for rows in (7, 3, 7, 5):  # grow, shrink (a short last batch), grow again
        X = rng.standard_normal((rows, 6)).astype(np.float32)
        Y = rng.integers(0, 3, rows)
        fresh = small_net(activation)
        out_reused = reused.forward(X).copy()
        out_fresh = fresh.forward(X).copy()
        np.testing.assert_array_equal(out_reused, out_fresh)
        assert reused.loss(Y, loss) == fresh.loss(Y, loss)
        reused.backward(Y, loss)
        fresh.backward(Y, loss)
        for a, b in zip(reused.parameters(), fresh.parameters(), strict=True):
            np.testing.assert_array_equal(a.grad, b.grad, err_msg=a.name)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_shared_scratch_gives_the_same_step_as_one_optimizer_per_tensor(name):
    rng = np.random.default_rng(2)
    net_a, net_b = small_net(), small_net()
    shared = OPTIMIZERS[name](weight_decay=0.01)
    separate = {p.name: OPTIMIZERS[name](weight_decay=0.01) for p in net_b.parameters()}
    for _ in range(3):
        grads = {
            p.name: rng.standard_normal(p.value.shape).astype(np.float32)
            for p in net_a.parameters()
        }
        for net in (net_a, net_b):
            for p in net.parameters():
                p.grad[...] = grads[p.name]
        shared.step(net_a.parameters(), 0.01)
        for p in net_b.parameters():
            separate[p.name].step([p], 0.01)
    for a, b in zip(net_a.parameters(), net_b.parameters(), strict=True):
        np.testing.assert_array_equal(a.value, b.value, err_msg=a.name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_against_a_zero_row_is_max_z_0(dtype):
    Z = np.random.default_rng(3).standard_normal((5, 7)).astype(dtype)
    Z[0, 0] = -0.0
    out = ACTIVATIONS["relu"].forward(Z, np.empty_like(Z))
    np.testing.assert_array_equal(out, np.maximum(Z, 0.0))
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_read_off_softmax_equals_log_sum_exp(dtype):
    rng = np.random.default_rng(4)
    Z = (3 * rng.standard_normal((9, 4))).astype(dtype)
    Y = rng.integers(0, 4, 9)
    Yhat = ACTIVATIONS["softmax"].forward(Z, np.empty_like(Z))
    Z64 = Z.astype(np.float64)
    expected = np.mean(np.log(np.exp(Z64).sum(axis=1)) - Z64[np.arange(9), Y])
    tolerance = 1e-6 if dtype == np.float32 else 1e-12
    assert LOSSES["cross_entropy"].value(Y, Z, Yhat) == pytest.approx(expected, rel=tolerance)


def test_cross_entropy_falls_back_to_logits_when_the_softmax_underflows():
    Z = np.array([[0.0, -200.0], [0.0, 0.0]], np.float32)  # e^-200 underflows float32
    Yhat = ACTIVATIONS["softmax"].forward(Z, np.empty_like(Z))
    value = LOSSES["cross_entropy"].value(np.array([1, 0]), Z, Yhat)
    assert value == pytest.approx((200.0 + np.log(2.0)) / 2, rel=1e-6)


def npz_config(path, **training):
    return validate(
        {
            "data": {
                "source": str(path),
                "validation_split": 0.0,
                "test_split": 0.0,
                "standardize": False,
            },
            "model": {"hidden": [8, 4], "activation": "relu"},
            "loss": "cross_entropy",
            "optimizer": {"name": "adam", "lr": 0.01, "weight_decay": 0.001},
            "training": {"epochs": 1, "batch_size": 16, **training},
        }
    )


@pytest.fixture
def npz_data(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "data.npz"
    np.savez(path, X=rng.standard_normal((50, 6)).astype(np.float32), y=rng.integers(0, 3, 50))
    return path


def test_float32_stays_float32_end_to_end(npz_data):
    experiment = setup(npz_config(npz_data))
    split = experiment.data.splits["train"]
    batches = BatchLoader(split, 16, True, experiment.shuffle_rng)
    network = experiment.network
    record = train_epoch(
        experiment, batches, 0.01, BatchGuard(network, experiment.config.training.clip_grad_norm)
    )
    assert np.isfinite(record["loss"])
    arrays = {p.name: p.value for p in network.parameters()}
    arrays |= {f"d{p.name}": p.grad for p in network.parameters()}
    last = network.last_pass
    arrays |= {f"{kind}{n}": a for kind in ("Z", "A") for n, a in enumerate(getattr(last, kind))}
    arrays |= experiment.optimizer.state
    arrays["X"] = split.X
    arrays["batch"] = network.last_pass.inputs[0]
    arrays["forward"] = network.forward(split.X[:5])
    arrays["predict"] = network.predict(split.X)
    wrong = {name: a.dtype for name, a in arrays.items() if a.dtype != np.float32}
    assert not wrong


def test_a_full_data_train_split_shares_the_loaded_array(npz_data):
    data = setup(npz_config(npz_data)).data
    assert np.shares_memory(data.splits["train"].X, data.table.X)


def test_splits_are_index_views_of_the_table_standardised_in_place(npz_data):
    config = npz_config(npz_data)
    config.data.validation_split, config.data.test_split = 0.2, 0.2
    config.data.standardize = True
    data = setup(config).data
    with np.load(npz_data) as raw:
        X = raw["X"]
    prep = data.preprocess
    expected = (X - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    assert sorted(np.concatenate([s.rows for s in data.splits.values()])) == list(range(50))
    for split in data.splits.values():
        assert split.features is data.table.X  # one network-ready copy of the data, no other
        np.testing.assert_array_equal(split.X, expected[split.rows])
        np.testing.assert_array_equal(np.concatenate(list(split.chunks(3))), split.X)
    np.testing.assert_allclose(prep.restore(data.table.X), X, rtol=1e-5, atol=1e-5)


def test_the_data_fingerprint_still_hashes_each_splits_arrays_whole(npz_data):
    # checkpoints written before splits became index views must still resume: same hash
    import hashlib

    from bpcli.runs.checkpoint import data_fingerprint

    config = npz_config(npz_data)
    config.data.validation_split, config.data.standardize = 0.3, True
    experiment = setup(config)
    digest = hashlib.sha256()
    for name, split in sorted(experiment.data.splits.items()):
        for array in (split.X, split.Y):
            digest.update(f"{name}{array.shape}{array.dtype}".encode())
            digest.update(np.ascontiguousarray(array).data)
    assert data_fingerprint(experiment) == digest.hexdigest()[:16]


def test_all_finite_finds_a_nan_in_the_last_chunk():
    X = np.zeros((10, 3), np.float32)
    assert all_finite(X, chunk_rows=4)
    X[9, 2] = np.nan
    assert not all_finite(X, chunk_rows=4)
    X[9, 2] = -np.inf
    assert not all_finite(X, chunk_rows=4)


def test_an_npy_target_column_does_not_keep_the_whole_file_alive(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    table = load_numpy(path, None)
    assert table.y.base is None or table.y.base.shape == table.y.shape
    np.testing.assert_array_equal(table.y, [2.0, 5.0, 8.0, 11.0])
