"""The config: schema (schema.py), YAML documents and --set overrides (documents.py), validation
with messages that name key, line and what is allowed (messages.py), resume rules (resume.py), and
loading a config file or mapping (here).
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from bpcli.config.documents import (
    MAX_CONFIG_BYTES,
    MAX_KEY_DEPTH,
    MAX_YAML_NODES,
    apply_override,
    override_keys,
    override_text,
    read_yaml,
    value_text,
)
from bpcli.config.messages import check_document, config_keys, locate, validate
from bpcli.config.resume import check_resumable, check_same_best
from bpcli.config.schema import Config, Section, data_config

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_KEY_DEPTH",
    "MAX_YAML_NODES",
    "Config",
    "Section",
    "apply_override",
    "check_document",
    "check_resumable",
    "check_same_best",
    "config_from_dict",
    "config_keys",
    "data_config",
    "file_locations",
    "load_config",
    "locate",
    "override_keys",
    "override_text",
    "read_config",
    "read_yaml",
    "to_yaml",
    "validate",
    "value_text",
]


def file_locations(path: Path, lines: dict) -> dict:
    """Key path -> 'file, line N', for error messages."""
    return {key: f"{path}, line {line}" for key, line in lines.items()}


def read_config(
    path: str | Path, overrides: list[str] = (), origins: dict[str, str] | None = None
) -> tuple[dict, dict]:
    """The YAML document with --set overrides applied, and where each key path was written:
    'file, line N', or for an override its entry in `origins` (by key path), else '--set'."""
    path = Path(path)
    document, lines = read_yaml(path)
    locations = file_locations(path, lines)
    for assignment in overrides:
        keys = apply_override(document, assignment)
        locations[keys] = (origins or {}).get(".".join(keys), "--set")
    return document, locations


def load_config(
    path: str | Path, overrides: list[str] = (), origins: dict[str, str] | None = None
) -> Config:
    """Read, override, resolve and validate a config file (`origins`: see read_config).

    Resolution: `name` defaults to the file's stem; relative file paths in data.source and
    model.init_from are made absolute against the config file's folder.
    """
    path = Path(path)
    document, locations = read_config(path, overrides, origins)
    return _resolve(validate(document, locations), path.stem, path.resolve().parent)


def config_from_dict(document: dict, overrides: list[str] = ()) -> Config:
    """Validate a config given as a mapping (the Python API); relative paths are against the
    working folder, `name` defaults to 'run'."""
    document = copy.deepcopy(document)
    locations = {apply_override(document, assignment): "--set" for assignment in overrides}
    return _resolve(validate(document, locations), "run", Path.cwd())


def _resolve(config: Config, name: str, base: Path) -> Config:
    if config.name is None:
        config.name = name
    if _looks_like_path(config.data.source):
        config.data.source = str((base / config.data.source).resolve())
    if config.model.init_from:
        config.model.init_from = str((base / config.model.init_from).resolve())
    return config


def _looks_like_path(source: str) -> bool:
    return (
        "/" in source or "\\" in source or Path(source).suffix.lower() in (".csv", ".npz", ".npy")
    )


def to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
