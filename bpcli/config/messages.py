"""From pydantic's validation errors to messages a person can act on: the key path, where it was
written ('file, line N' or '--set'), what went wrong and what is allowed.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from bpcli.config.schema import (
    DATA_MODELS,
    FILE_SOURCE,
    OPTIMIZER_MODELS,
    SCHEDULE_MODELS,
    Config,
    check_name,
)
from bpcli.errors import ConfigError

UNIONS = {"data": DATA_MODELS, "optimizer": OPTIMIZER_MODELS, "schedule": SCHEDULE_MODELS}
"""The sections whose settings depend on a choice (the source, the optimizer's or schedule's name)."""
EXAMPLES = {
    "data": "{source: iris}",
    "model": "{hidden: [64], activation: relu}",
    "optimizer": "{name: sgd, lr: 0.1}",
    "optimizer.schedule": "{name: cosine} or just cosine",
    "training": "{epochs: 30, batch_size: 32}",
    "training.early_stopping": "{patience: 5}",
    "output": "{dir: runs}",
}
MAPPING_ERRORS = ("model_type", "model_attributes_type", "dict_type", "union_tag_not_found")


def _untagged(loc: tuple) -> tuple[tuple, dict[tuple, str]]:
    """The key path without pydantic's union tags, and which variant each tagged section took."""
    path, chosen, previous = [], {}, None
    for part in loc:
        if str(part).startswith("function-"):
            continue
        if previous in UNIONS and part in UNIONS[previous] and tuple(path) not in chosen:
            chosen[tuple(path)] = previous = part
            continue
        path.append(part)
        previous = part
    return tuple(path), chosen


def _fields(model: type[BaseModel]) -> dict:
    """A model's fields by the key written in YAML (the alias where a field has one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _section_model(path: tuple, chosen: dict, root: Any = None) -> type[BaseModel] | None:
    """The model of the section at `path` of `root` (default Config; the chosen variant for data,
    optimizer and schedule)."""
    model: Any = root or Config
    for depth, key in enumerate(path):
        if isinstance(key, int) or key not in _fields(model):
            return None
        if key in UNIONS:
            model = UNIONS[key].get(chosen.get(path[: depth + 1]))
            continue
        annotation = _fields(model)[key].annotation
        candidates = getattr(annotation, "__args__", ()) or (annotation,)
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return None
    return model


def config_keys(path: tuple) -> list[str] | None:
    """The keys a config section accepts at `path` (for data, optimizer and schedule: the keys of
    any of their variants); None when `path` is not a section."""
    if not path:
        return list(_fields(Config))
    if path in (("data",), ("optimizer",), ("optimizer", "schedule")):
        variants = UNIONS[path[-1]].values()
        return list(dict.fromkeys(key for model in variants for key in _fields(model)))
    model = _section_model(path, {})
    return list(_fields(model)) if model else None


def _variant_name(section: str, tag: str) -> str:
    if section == "data":
        return "a file source" if tag == FILE_SOURCE else f"the '{tag}' generator"
    return f"the {tag} schedule" if section == "schedule" else tag


def _unknown_key(path: tuple, chosen: dict, root: Any) -> str:
    """Why a key is not accepted here, and what is."""
    section = _section_model(path[:-1], chosen, root)
    allowed = list(_fields(section)) if section else []
    key, parent = str(path[-1]), path[-2] if len(path) > 1 else None
    if parent in UNIONS and (path[:-1] in chosen):
        tag = chosen[path[:-1]]
        elsewhere = any(key in model.model_fields for model in UNIONS[parent].values())
        if elsewhere:
            what = _variant_name(parent, tag)
            takes = [name for name in allowed if name not in ("name", "source")]
            return f"not a setting of {what}; {what} takes {', '.join(takes)}"
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key - {suggestion}allowed: {', '.join(allowed)}"


def locate(loc: tuple, locations: dict) -> str | None:
    """Where the innermost known key of `loc` was written: 'file, line N' or '--set'."""
    return next((locations[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in locations), None)


def _describe(error: dict, locations: dict, root: Any) -> str:
    path, chosen = _untagged(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = _unknown_key(path, chosen, root)
    elif kind == "missing":
        message = "required key is missing"
    elif kind in MAPPING_ERRORS:
        dotted = ".".join(map(str, path))
        example = EXAMPLES.get(dotted)
        message = (
            f"must be a mapping{f', e.g. {example}' if example else ''}, got {error['input']!r}"
        )
    elif kind == "union_tag_invalid":
        section = path[-1]
        what = {"optimizer": "optimizer", "schedule": "schedule"}[section]
        path = (*path, "name")
        try:
            check_name(str(error["input"].get("name")), UNIONS[section], what)
        except ValueError as problem:
            message = str(problem)
    elif "input" in error and kind != "value_error":
        message = f"{message}, got {error['input']!r}"
    where = locate(path, locations)
    dotted = ".".join(map(str, path)) or "(top level)"
    return f"{dotted} ({where}): {message}" if where else f"{dotted}: {message}"


def check_document(model: type[BaseModel], document: dict, locations: dict, what: str):
    """`model` validated from `document`, or one ConfigError 'invalid <what>:' listing every problem
    with its key path, where it was written (`locations`) and what is allowed."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = [_describe(e, locations, model) for e in error.errors()]
        raise ConfigError(f"invalid {what}:\n  " + "\n  ".join(problems)) from None


def validate(document: dict, locations: dict | None = None) -> Config:
    """Validate a config document; raise one ConfigError listing every problem.

    `locations` maps key paths to where they were written ('file, line N' or '--set').
    """
    locations = locations or {}
    nul = _path_with_nul(document)
    if nul is not None:
        where = locate(nul, locations)
        raise ConfigError(
            f"invalid config:\n  {'.'.join(map(str, nul))}{f' ({where})' if where else ''}: "
            "contains a NUL byte, which no name or path may hold"
        )
    config = check_document(Config, document, locations, "config")
    problems = []
    for path, message in config.resolve():
        where = locate(path, locations) or locate(("loss",), locations)
        dotted = ".".join(path)
        problems.append(f"{dotted} ({where}): {message}" if where else f"{dotted}: {message}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def _path_with_nul(value, path: tuple = ()) -> tuple | None:
    """The key path of the first string (key or value) holding a NUL byte, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*path, key)
        found = _path_with_nul(item, (*path, key))
        if found is not None:
            return found
    return None
