"""The reference pages stay complete: docs/math.md has a row for every registry entry, and
docs/architecture.md names every package and top-level module of bpcli."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpcli.core.activations import ACTIVATIONS
from bpcli.core.initializers import INITIALIZERS
from bpcli.core.losses import LOSSES
from bpcli.core.optimizers import OPTIMIZERS

ROOT = Path(__file__).resolve().parent.parent
MATH = (ROOT / "docs" / "math.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def first_cells(text: str) -> set[str]:
    return {
        line.split("|")[1].strip().strip("`")
        for line in text.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    }


@pytest.mark.parametrize(
    ("title", "registry"),
    [("Activations", ACTIVATIONS), ("Losses", LOSSES), ("Optimizers", OPTIMIZERS)],
)
def test_math_tables_cover_every_registry_entry(title, registry):
    missing = set(registry) - first_cells(section(MATH, title))
    assert not missing, f"docs/math.md, {title}: no row for {sorted(missing)}"


def test_math_names_every_initializer():
    text = section(MATH, "Initialisation")
    assert all(re.search(rf"\b{name}\b", text) for name in INITIALIZERS), sorted(INITIALIZERS)


def test_architecture_names_every_package_and_module():
    package = ROOT / "bpcli"
    parts = [p for p in package.iterdir() if p.name != "__pycache__"]
    names = [
        f"bpcli/{p.name}/" if p.is_dir() else f"bpcli/{p.name}"
        for p in parts
        if p.is_dir() or p.suffix == ".py"
    ]
    names = [n for n in names if n not in ("bpcli/__main__.py", "bpcli/datasets/")]
    missing = [name for name in names if f"`{name}`" not in ARCHITECTURE]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_a_missing_row_would_be_caught():
    assert "relu" in first_cells(section(MATH, "Activations"))
    assert "swish" not in first_cells(section(MATH, "Activations"))
