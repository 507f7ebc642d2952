"""Data: generators, shipped datasets, CSV/NPZ/NPY loading, label mapping, splits, standardisation."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli.config import data_config
from bpcli.data.sources import BUILTIN, GENERATORS, SHIPPED, load_table
from bpcli.data.splits import prepare, split_rows
from bpcli.errors import DataError


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_seeded_and_shaped(name):
    first = load_table(name, None, rng(), {"n_samples": 40})
    second = load_table(name, None, rng(), {"n_samples": 40})
    assert first.X.shape[0] == len(first.y) == 40
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.y, second.y)


def test_xor_defaults_to_the_truth_table():
    table = load_table("xor", None, rng(), {})
    np.testing.assert_array_equal(table.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(table.y, [0, 1, 1, 0])


@pytest.mark.parametrize(
    "name, rows, features, classes",
    [
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
        ("digits", 1797, 64, 10),
    ],
)
def test_shipped_classification_sets(name, rows, features, classes):
    table = load_table(name, None, rng(), {})
    assert table.X.shape == (rows, features)
    assert len(np.unique(table.y)) == classes


def test_shipped_regression_set():
    table = load_table("diabetes", None, rng(), {})
    assert table.X.shape == (442, 10) and table.target_name == "target"
    assert set(SHIPPED) <= set(BUILTIN)


def test_string_labels_are_mapped_and_decoded(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("w,h,kind\n1,2,cat\n2,1,dog\n3,3,cat\n4,0,dog\n5,5,cat\n")
    data = prepare(
        data_config(source=str(path), validation_split=0, test_split=0),
        "classification",
        np.float32,
        rng(),
        rng(1),
    )
    assert data.preprocess.classes == ["cat", "dog"]
    Y = data.splits["train"].Y
    assert Y.dtype == np.int64
    decoded = data.preprocess.decode(np.eye(2)[Y])
    assert list(decoded) == ["cat", "dog", "cat", "dog", "cat"]


def test_target_column_by_name(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label,a,b\n0,1.5,2\n1,2.5,3\n")
    table = load_table(str(path), "label", rng(), {})
    assert table.feature_names == ["a", "b"] and list(table.y) == [0, 1]


def test_text_feature_is_reported_with_line_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,red,1\n")
    with pytest.raises(DataError, match=r"line 3: feature 'b' is 'red'"):
        load_table(str(path), None, rng(), {})


def test_nan_in_features_is_reported(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0\nnan,1\n")
    with pytest.raises(DataError, match="line 3"):
        load_table(str(path), None, rng(), {})


def test_unknown_target_column_lists_the_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0\n")
    with pytest.raises(DataError) as caught:
        load_table(str(path), "label", rng(), {})
    assert "'label'" in str(caught.value) and "a, y" in str(caught.value)


def test_npz_and_npy(tmp_path):
    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.save(tmp_path / "d.npy", np.c_[X, y])
    for name in ("d.npz", "d.npy"):
        table = load_table(str(tmp_path / name), None, rng(), {})
        np.testing.assert_array_equal(table.X, X)
        np.testing.assert_array_equal(table.y, y)


def test_npz_without_y(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)))
    with pytest.raises(DataError, match="needs X and y"):
        load_table(str(tmp_path / "d.npz"), None, rng(), {})


def test_binary_cross_entropy_needs_two_classes():
    config = data_config(source="iris")
    with pytest.raises(DataError, match="exactly 2 classes"):
        prepare(config, "binary", np.float32, rng(), rng(1))


def test_regression_needs_numeric_targets():
    with pytest.raises(DataError, match="holds text"):
        prepare(data_config(source="iris"), "regression", np.float32, rng(), rng(1))


def test_generator_options_are_checked_at_the_config_boundary():
    with pytest.raises(ValueError, match="n_classes"):
        data_config(source="xor", n_classes=3)


def test_unknown_source_lists_the_built_ins():
    with pytest.raises(DataError, match="moons"):
        load_table("mnist", None, rng(), {})


def test_splits_partition_the_rows():
    rows = split_rows(100, 0.1, 0.2, rng())
    assert [len(rows[s]) for s in ("train", "validation", "test")] == [70, 10, 20]
    assert sorted(np.concatenate(list(rows.values()))) == list(range(100))


def test_standardisation_uses_training_statistics_only():
    data = prepare(data_config(source="wine"), "classification", np.float64, rng(), rng(1))
    train = data.splits["train"].X
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(train.std(axis=0), 1.0)
    assert abs(data.splits["test"].X.mean()) > 1e-6


def test_float32_stays_float32():
    data = prepare(data_config(source="digits"), "classification", np.float32, rng(), rng(1))
    assert all(split.X.dtype == np.float32 for split in data.splits.values())


def test_regression_with_empty_splits():
    config = data_config(source="linear", n_samples=20, validation_split=0, test_split=0)
    data = prepare(config, "regression", np.float32, rng(), rng(1))
    assert data.splits["train"].Y.shape == (20, 1)
    assert data.splits["validation"].Y.shape == (0, 1) and data.splits["test"].X.shape == (0, 3)


def test_column_statistics_match_numpy_in_chunks():
    from bpcli.data.preprocess import column_statistics

    X = rng(3).standard_normal((1000, 4)) * [1, 10, 100, 0.1] + [5, -3, 0, 1e3]
    rows = np.sort(rng(4).choice(1000, 700, replace=False))
    mean, std = column_statistics(X, rows, chunk_rows=64)
    np.testing.assert_allclose(mean, X[rows].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, X[rows].std(axis=0), rtol=1e-10)


def test_transform_leaves_the_callers_array_alone_unless_given_away():
    prep = prepare(
        data_config(source="wine"), "classification", np.float64, rng(), rng(1)
    ).preprocess
    X = np.ones((3, 13))
    prep.transform(X, np.float64)
    np.testing.assert_array_equal(X, 1.0)
    standardized = prep.transform(X, np.float64, owned=True)
    assert standardized is X and not np.all(X == 1.0)
