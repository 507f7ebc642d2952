"""A config document: YAML read safely with the line number of every key, and `--set key.path=value`
overrides applied to it (the value parsed as YAML).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bpcli.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000
MAX_YAML_NODES = 100_000
MAX_KEY_DEPTH = 8
"""A --set key path with more levels than this is refused (the schema is 4 deep)."""


def _walk(node: yaml.Node, path: tuple, lines: dict, budget: list[int]) -> None:
    """Record the line number of every key path under `node`; reject duplicate keys and alias bombs."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"YAML document has more than {MAX_YAML_NODES} nodes (or an alias bomb)",
            "write the config out plainly",
        )
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: a key must be a plain name, not a "
                    f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}",
                    "write keys as name: value",
                )
            key = key_node.value
            if key in seen:
                where = ".".join(map(str, (*path, key)))
                raise ConfigError(
                    f"duplicate key '{where}' (line {key_node.start_mark.line + 1})",
                    "each key may appear once",
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, budget)


def read_yaml(path: Path) -> tuple[dict, dict]:
    """Load a YAML mapping safely; return it and a map from key path to line number."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", "check the path")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict = {}
        if node is not None:
            _walk(node, (), lines, [MAX_YAML_NODES])
        document = yaml.safe_load(text)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: YAML nested too deeply", "write the config out plainly"
        ) from None
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "empty"
        raise ConfigError(f"{path}: the config must be a mapping of keys, got {kind} document")
    return document, lines


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    return f"{problem} (line {mark.line + 1})" if mark else problem


def value_text(value) -> str:
    """`value` as one line of YAML (flow style) that reads back as exactly `value`."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...")


def override_text(key_path: str, value) -> str:
    """The `key.path=value` assignment that `apply_override` reads back as exactly `value`."""
    return f"{key_path}={value_text(value)}"


def override_keys(assignment: str) -> list[str]:
    """The key path of one `key.path=value` override, e.g. ['optimizer', 'lr']."""
    key_path, sep, _ = assignment.partition("=")
    keys = key_path.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"--set '{assignment}': expected key.path=value, e.g. optimizer.lr=0.01")
    if len(keys) > MAX_KEY_DEPTH:
        raise ConfigError(
            f"--set {key_path[:60]}…: {len(keys)} levels of keys; config keys are at most "
            f"{MAX_KEY_DEPTH} deep"
        )
    if "\x00" in assignment:
        raise ConfigError(f"--set {key_path}: contains a NUL byte", "remove it")
    return keys


def apply_override(document: dict, assignment: str) -> tuple[str, ...]:
    """Apply one `key.path=value` (value parsed as YAML) to the document, in place; returns the path."""
    keys = override_keys(assignment)
    key_path, _, raw_value = assignment.partition("=")
    try:
        node = yaml.compose(raw_value, Loader=yaml.SafeLoader)
        if node is not None:
            _walk(node, (), {}, [MAX_YAML_NODES])
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key_path}: invalid YAML value: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ConfigError(f"--set {key_path}: value nested too deeply") from None
    target = document
    for depth, key in enumerate(keys[:-1]):
        if target.get(key) is None:
            target[key] = {}
        target = target[key]
        if not isinstance(target, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"--set {key_path}: '{where}' is not a section")
    target[keys[-1]] = value
    return tuple(keys)
