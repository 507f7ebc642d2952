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


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def links(path: Path) -> list[tuple[str, str]]:
    """Relative links of a Markdown file: (target file, anchor) pairs; web links are left out."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    found = re.findall(r"\]\(([^)\s]+)\)", text)
    return [
        tuple(link.split("#", 1)) if "#" in link else (link, "")
        for link in found
        if not re.match(r"[a-z]+:", link)
    ]


@pytest.mark.parametrize(
    "path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_relative_links_reach_a_file_and_a_heading(path):
    for target, anchor in links(path):
        file = (path.parent / target).resolve() if target else path
        assert file.is_file(), f"{path.name}: {target} does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), re.MULTILINE)
            assert anchor in {slug(h) for h in headings}, f"{path.name}: no heading #{anchor}"


def test_slugs_are_githubs():
    assert slug("`optimizer.schedule`") == "optimizerschedule"
    assert slug("Checkpoints, resume and safety") == "checkpoints-resume-and-safety"
