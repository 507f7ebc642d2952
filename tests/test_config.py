"""Config validation: unknown keys with suggestions, wrong types, bad values, lines, --set, resolution."""

from __future__ import annotations

import pytest

from bpcli.config import load_config
from bpcli.errors import ConfigError


def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as caught:
        load_config(path, list(overrides))
    return str(caught.value)


def test_defaults_are_resolved(write_config):
    config = load_config(write_config({"data": {"source": "moons"}}, name="moons_run"))
    assert config.name == "moons_run"
    assert config.model.output_activation == "softmax"
    assert config.optimizer.name == "adam" and config.optimizer.schedule.name == "constant"
    assert config.training.dtype == "float32"


@pytest.mark.parametrize(
    "loss, output",
    [("binary_cross_entropy", "sigmoid"), ("mse", "identity"), ("huber", "identity")],
)
def test_auto_output_activation_follows_the_loss(write_config, loss, output, small_config):
    config = load_config(write_config(small_config(loss=loss)))
    assert config.model.output_activation == output


def test_unknown_key_suggests_the_close_one_and_names_the_line(write_config):
    text = "data:\n  source: moons\n  validaton_split: 0.2\n"
    message = error_of(write_config(text))
    assert "data.validaton_split" in message
    assert "line 3" in message
    assert "did you mean 'validation_split'" in message


def test_unknown_top_level_key(write_config, small_config):
    message = error_of(write_config({**small_config(), "optimiser": {"lr": 0.1}}))
    assert "optimiser" in message and "did you mean 'optimizer'" in message


def test_wrong_type_names_the_key_and_the_value(write_config, small_config):
    message = error_of(write_config(small_config(training={"epochs": "many"})))
    assert "training.epochs" in message and "'many'" in message


@pytest.mark.parametrize(
    "section, key, value, words",
    [
        ("optimizer", "lr", -0.1, "greater than 0"),
        ("model", "activation", "rleu", "did you mean 'relu'"),
        ("optimizer", "name", "adan", "did you mean 'adam'"),
        ("model", "init", "he", "allowed:"),
        ("training", "dtype", "float16", "float32"),
        ("model", "hidden", [8, 0], ">= 1"),
    ],
)
def test_bad_values_say_what_is_allowed(write_config, section, key, value, words, small_config):
    message = error_of(write_config(small_config(**{section: {key: value}})))
    assert f"{section}.{key}" in message and words in message


def test_bad_loss_lists_the_losses(write_config, small_config):
    message = error_of(write_config(small_config(loss="crossentropy")))
    assert "did you mean 'cross_entropy'" in message and "huber" in message


def test_splits_must_leave_training_rows(write_config, small_config):
    config = small_config(data={"source": "moons", "validation_split": 0.5, "test_split": 0.5})
    assert "below 1" in error_of(write_config(config))


def test_output_activation_must_fit_the_loss(write_config, small_config):
    message = error_of(write_config(small_config(model={"output_activation": "sigmoid"})))
    assert "model.output_activation" in message and "softmax" in message


def test_missing_source_is_reported(write_config):
    assert "data.source" in error_of(write_config({"data": {}}))


def test_missing_file():
    assert "not found" in error_of("does/not/exist.yaml")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_document_must_be_a_mapping(write_config, text):
    assert "mapping" in error_of(write_config(text))


def test_invalid_yaml_names_the_line(write_config):
    message = error_of(write_config("data:\n  source: moons\n\tn_samples: 3\n"))
    assert "invalid YAML" in message and "line 3" in message


def test_duplicate_keys_are_errors(write_config):
    message = error_of(write_config("data:\n  source: moons\n  source: xor\n"))
    assert "duplicate key 'data.source'" in message and "line 3" in message


def test_alias_bomb_is_refused_quickly(write_config):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "alias" in error_of(write_config("\n".join(lines) + "\n"))


def test_set_overrides_any_key_with_yaml_values(write_config, small_config):
    path = write_config(small_config())
    config = load_config(
        path, ["optimizer.lr=0.5", "model.hidden=[3, 2]", "training.early_stopping={patience: 2}"]
    )
    assert config.optimizer.lr == 0.5
    assert config.model.hidden == [3, 2]
    assert config.training.early_stopping.patience == 2


def test_set_errors_are_attributed_to_set(write_config, small_config):
    message = error_of(write_config(small_config()), ["training.batch_size=0"])
    assert "training.batch_size (--set)" in message


@pytest.mark.parametrize("assignment", ["optimizer.lr", "=3", "optimizer..lr=1"])
def test_malformed_set(write_config, assignment, small_config):
    assert "--set" in error_of(write_config(small_config()), [assignment])


def test_set_into_a_scalar_is_an_error(write_config, small_config):
    assert "not a section" in error_of(write_config(small_config()), ["loss.name=mse"])


def test_relative_data_paths_resolve_against_the_config_folder(
    write_config, tmp_path, small_config
):
    (tmp_path / "data.csv").write_text("a,b\n1,0\n2,1\n")
    config = load_config(write_config({**small_config(), "data": {"source": "data.csv"}}))
    assert config.data.source == str((tmp_path / "data.csv").resolve())


def test_schedule_accepts_a_name_or_a_mapping(write_config, small_config):
    by_name = load_config(write_config(small_config(optimizer={"schedule": "cosine"})))
    assert by_name.optimizer.schedule.name == "cosine"
    mapping = {"schedule": {"name": "step", "step_size": 2, "gamma": 0.1}}
    assert (
        load_config(write_config(small_config(optimizer=mapping))).optimizer.schedule.step_size == 2
    )


def test_config_digest_changes_with_the_config(write_config, small_config):
    first = load_config(write_config(small_config()))
    second = load_config(write_config(small_config()), ["optimizer.lr=0.5"])
    assert first.digest() == load_config(write_config(small_config())).digest()
    assert first.digest() != second.digest()
