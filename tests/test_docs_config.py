"""docs/config.md documents the schema exactly: every key, which variants take it, and its default.

The schema is read by walking the pydantic models of bpcli.config (nested models, optional models and
tagged unions such as the optimizers, schedules and data sources), so a new key, variant or default
fails this test until the reference says so, and a documented key that no longer exists fails too.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, Tag

from bpcli.config import Config

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "config.md"
REQUIRED = "required"
SECTION = "section"
ALL = "all"
HEADING = "heading"


# ---------------------------------------------------------------------------- the schema


def members(annotation) -> list[tuple[str | None, type[BaseModel]]]:
    """The models an annotation holds, each with its union tag (None when untagged)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        tags = [m.tag for m in metadata if isinstance(m, Tag)]
        return [(tags[0] if tags else tag, model) for tag, model in members(inner)]
    if origin in (typing.Union, types.UnionType):
        return [found for arg in typing.get_args(annotation) for found in members(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(None, annotation)]
    return []


def is_tag(annotation) -> bool:
    """A union's tag is a one-value Literal (name: Literal["adam"]); Literal["rel", "abs"] is a choice."""
    return typing.get_origin(annotation) is typing.Literal and len(typing.get_args(annotation)) == 1


def walk(model, prefix, variant, variants, section_default, keys) -> None:
    """Record keys[path][variant] = default and keys[path]["*"] = the variants of its union."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if field.is_required():
            default = REQUIRED
        else:
            default = field.get_default(call_default_factory=True)
        if is_tag(field.annotation):  # a union's tag: its default is the section's
            default = REQUIRED if section_default is None else getattr(section_default, name)
        found = members(field.annotation)
        entry = keys.setdefault(path, {"*": variants})
        entry[variant] = SECTION if isinstance(default, BaseModel) else default
        tags = tuple(tag for tag, _ in found if tag is not None)
        for tag, sub in found:
            inner_default = default if isinstance(default, BaseModel) else None
            if tags:
                walk(sub, f"{path}.", tag, tags, inner_default, keys)
            else:
                walk(sub, f"{path}.", None, (), inner_default, keys)


def schema_keys() -> dict[str, dict]:
    keys: dict[str, dict] = {}
    walk(Config, "", None, (), None, keys)
    return keys


# ---------------------------------------------------------------------------- the reference


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_default(text: str) -> dict | object:
    """`value` -> the value; 'required'; or 'tag `v`, tag `v`' -> {tag: v} per variant."""
    if text == REQUIRED:
        return REQUIRED
    pairs = re.findall(r"(\w+) `([^`]*)`", text)
    if pairs:
        return {tag: yaml.safe_load(value) for tag, value in pairs}
    single = re.fullmatch(r"`([^`]*)`", text)
    assert single, f"default {text!r}: write `value`, required, or tag `value`, ..."
    return yaml.safe_load(single.group(1))


def documented_keys(text: str) -> dict[str, dict]:
    """Key -> {"default": parsed default cell or None, "for": the for cell or None}."""
    documented: dict[str, dict] = {}
    for heading in re.findall(r"^#+ `([\w.]+)`", text, flags=re.MULTILINE):
        documented.setdefault(heading, {"default": HEADING, "for": None})
    columns: list[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = []
            continue
        row = cells(line)
        if not columns:
            columns = row
            continue
        key = re.fullmatch(r"`([\w.]+)`", row[0])
        if set(line) <= set("|-: ") or "key" not in columns or not key:
            continue
        record = dict(zip(columns, row, strict=True))
        assert record.get("meaning"), f"{key.group(1)}: say what it means"
        documented[key.group(1)] = {
            "default": parse_default(record["default"]),
            "for": record.get("for"),
        }
    return documented


def expected_defaults(entry: dict, documented: dict) -> tuple[dict, dict]:
    """What the schema and the reference say of one key: {variant: default} each."""
    variants = entry["*"]
    schema = {v: d for v, d in entry.items() if v != "*"}
    default, applies = documented["default"], documented["for"]
    if isinstance(default, dict):
        return schema, default
    if applies in (None, "", ALL):
        tags = variants or [None]
    else:
        tags = [t.strip(" `") for t in applies.split(",")]
    return schema, {tag: default for tag in tags}


# ---------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def schema():
    return schema_keys()


@pytest.fixture(scope="module")
def reference():
    return documented_keys(REFERENCE.read_text(encoding="utf-8"))


def test_the_walker_sees_nested_optional_and_union_keys(schema):
    assert schema["optimizer.beta1"] == {
        "*": schema["optimizer.name"]["*"],
        "adam": 0.9,
        "adamw": 0.9,
    }
    assert schema["optimizer.name"]["adam"] == "adam" and schema["optimizer.name"]["sgd"] == "adam"
    assert schema["optimizer.schedule.step_size"]["step"] == 10
    assert schema["training.early_stopping"][None] is None
    assert schema["training.early_stopping.patience"][None] == 5
    assert schema["data.source"]["moons"] == REQUIRED and schema["data.target"]["file"] is None
    assert schema["model"][None] == SECTION


def test_every_schema_key_is_documented(schema, reference):
    missing = sorted(set(schema) - set(reference))
    assert not missing, f"docs/config.md lacks {missing}"


def test_every_documented_key_exists(schema, reference):
    unknown = sorted(set(reference) - set(schema))
    assert not unknown, f"docs/config.md documents keys the schema does not have: {unknown}"


def test_documented_defaults_and_variants_match_the_schema(schema, reference):
    wrong = []
    for key, entry in schema.items():
        if key not in reference:  # reported by test_every_schema_key_is_documented
            continue
        if reference[key]["default"] == HEADING:  # a section: its keys carry the defaults
            assert any(other.startswith(f"{key}.") for other in schema), f"{key} is no section"
            continue
        actual, documented = expected_defaults(entry, reference[key])
        actual = {v: d for v, d in actual.items() if d != SECTION}
        if actual and actual != documented:
            wrong.append(f"{key}: schema {actual}, docs {documented}")
    assert not wrong, "\n".join(wrong)


def test_a_wrong_reference_would_be_caught(schema):
    text = REFERENCE.read_text(encoding="utf-8")
    broken = documented_keys(
        text.replace("| `optimizer.rho` | `0.9` |", "| `optimizer.rho` | `0.8` |")
    )
    actual, documented = expected_defaults(schema["optimizer.rho"], broken["optimizer.rho"])
    assert actual != documented
    shifted = documented_keys(text.replace("| `rmsprop` | ρ", "| `adam` | ρ"))
    actual, documented = expected_defaults(schema["optimizer.rho"], shifted["optimizer.rho"])
    assert actual != documented
    dropped = documented_keys(text.replace("`model.init_std`", "`model.init_sd`"))
    assert "model.init_std" not in dropped and "model.init_sd" in dropped
