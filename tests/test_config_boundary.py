"""Validation at the config boundary: each optimizer, schedule and data source takes only its own
settings, and a section of the wrong type says what is expected."""

from __future__ import annotations

import pytest
from helpers import CONFIGS, flat, runner

from bpcli.commands import app


def validate_cli(config_path, *overrides):
    args = ["validate", str(config_path)]
    for override in overrides:
        args += ["--set", override]
    return runner.invoke(app, args)


def assert_refused(result, *phrases):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    message = flat(result.stderr)
    for phrase in phrases:
        assert phrase in message, message


def test_a_setting_of_another_optimizer_names_what_applies(write_config):
    path = write_config("data: {source: moons}\noptimizer:\n  name: adam\n  momentum: 0.5\n")
    assert_refused(
        validate_cli(path),
        "optimizer.momentum",
        "line 4",
        "not a setting of adam; adam takes lr, beta1, beta2, eps, weight_decay, schedule",
    )


def test_a_column_on_a_generator_is_refused(write_config):
    path = write_config("data: {source: moons, target: 3}\n")
    assert_refused(
        validate_cli(path),
        "data.target",
        "line 1",
        "not a setting of the 'moons' generator",
        "n_samples, noise",
    )


def test_generator_settings_on_a_file_are_refused_before_reading_it(write_config, tmp_path):
    (tmp_path / "some.csv").write_text("a,b\n1,0\n2,1\n")
    path = write_config("data: {source: some.csv, noise: 0.1}\n")
    assert_refused(
        validate_cli(path),
        "data.noise",
        "not a setting of a file source; a file source takes target, validation_split",
    )


def test_a_section_given_as_a_value_says_it_must_be_a_mapping():
    result = validate_cli(CONFIGS / "iris.yaml", "optimizer=sgd")
    assert_refused(result, "optimizer (--set): must be a mapping, e.g. {name: sgd, lr: 0.1}")
    assert "instance of" not in result.stderr


@pytest.mark.parametrize(
    ("override", "phrases"),
    [
        ("optimizer.name=adamm", ["optimizer.name (--set)", "did you mean 'adam'?"]),
        (
            "optimizer.schedule=cosinee",
            ["optimizer.schedule.name (--set)", "did you mean 'cosine'"],
        ),
        ("optimizer.schedule.gamma=0.1", ["not a setting of the constant schedule"]),
        ("data.n_classes=4", ["data.n_classes (--set)", "not a setting of a file source"]),
        ("data=iris", ["data (--set): must be a mapping, e.g. {source: iris}"]),
        ("optimizer.momentun=0.1", ["optimizer.momentun (--set): unknown key"]),
    ],
)
def test_every_set_error_says_set(override, phrases):
    assert_refused(validate_cli(CONFIGS / "iris.yaml", override), *phrases)


def test_a_schedule_and_an_optimizer_keep_their_own_settings():
    result = validate_cli(
        CONFIGS / "iris.yaml",
        "optimizer={name: momentum, lr: 0.1, momentum: 0.5}",
        "optimizer.schedule={name: step, step_size: 3}",
    )
    assert result.exit_code == 0, result.output
    optimizer = result.stdout.split("optimizer:\n", 1)[1]
    assert "momentum: 0.5" in optimizer and "beta1" not in optimizer
    assert "step_size: 3" in optimizer and "gamma: 0.5" in optimizer and "min_lr" not in optimizer


def test_a_generator_shows_its_real_defaults():
    result = validate_cli(CONFIGS / "moons.yaml")
    assert result.exit_code == 0, result.output
    data = result.stdout.split("data:\n", 1)[1].split("model:", 1)[0]
    assert "noise:" in data and "  target:" not in data and "n_classes" not in data
