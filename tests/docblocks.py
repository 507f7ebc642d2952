"""The examples of README.md and docs/*.md, as the docs test and CI run them.

A ```sh block runs as one bash script (`set -eo pipefail`); a ```console block runs each `$ ` line
(a line ending in a backslash continues on the next) and shows what it prints; a ```python block
runs as one script (`python -c`), so it imports what it uses. Blocks that install
bpcli (`pip install` in README.md: the set-up commands) cannot run inside pytest: `.ci/run` runs
them verbatim, in order, in a fresh virtual environment (`python tests/docblocks.py --ci` prints
them). Standard library only: CI calls it before anything is installed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
RUN_KINDS = ("sh", "console", "python")
OPTIONAL_MODULES = ("matplotlib", "onnx", "onnxruntime", "ray", "optuna")
IMPORT = re.compile(r"^\s*(?:import|from)\s+([\w., ]+?)(?:\s+import\b.*)?$", re.MULTILINE)
PIP_INSTALL = re.compile(r"(^|&&|;)\s*(python3? -m )?pip install\b", re.MULTILINE)
EXTRA_INSTALL = re.compile(
    r'^pip install (?:-e )?"(?:bpcli|\.)\[([\w,]+)\]"(?: [\w.-]+)*\s*(?:#.*)?$'
)
REQUIRES_MARK = re.compile(r"<!--\s*requires:\s*([\w, ]+?)\s*-->\s*$")
NEEDS = (
    (re.compile(r"\bbpcli plot\b"), "matplotlib"),
    (re.compile(r"\bbpcli export\b"), "onnx"),
    (re.compile(r"\bbpcli export\b[^\n]*--check|\bonnxruntime\b"), "onnxruntime"),
    (re.compile(r"--backend ray\b|\bray start\b"), "ray"),
    (re.compile(r"\boptuna\b"), "optuna"),
)
"""Commands that need an optional extra, and the module that must import for them to run. A block
may also name its needs in a comment on the line above its fence: <!-- requires: onnxruntime -->."""


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file: its kind (sh, console, python, ...) and text."""

    doc: str  # path relative to the repository root
    line: int  # line of the opening fence
    kind: str
    text: str
    marked: tuple[str, ...] = ()  # modules named by a <!-- requires: ... --> comment

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def installs(self) -> bool:
        """Whether the block runs `pip install` (it cannot run inside the test suite)."""
        return bool(PIP_INSTALL.search(self.text))

    def extras(self) -> list[str] | None:
        """The bpcli extras of a block that only installs extras (`pip install "bpcli[plot]"`),
        else None."""
        lines = self.setup_lines()
        matches = [EXTRA_INSTALL.match(line) for line in lines]
        if not lines or not all(matches):
            return None
        return sorted({name for m in matches for name in m.group(1).split(",")})

    def steps(self) -> list[tuple[str, list[str]]]:
        """What runs, with the output the block shows for it: a ```sh block is one script (and
        shows nothing); a ```console block is its `$ ` commands (a line ending in a backslash
        continues on the next), each with the lines below it up to the next command."""
        if self.kind in ("sh", "python"):
            return [(self.text, [])]
        steps: list[tuple[str, list[str]]] = []
        continued = False
        for line in self.text.splitlines():
            if continued:
                steps[-1] = (steps[-1][0] + "\n" + line, [])
            elif line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
            continued = line.endswith("\\") and (line.startswith("$ ") or continued)
        return steps

    def setup_lines(self) -> list[str]:
        """The commands of a set-up block, one a line, without comments and blank lines."""
        return [
            line for line in self.text.splitlines() if line.strip() and not line.startswith("#")
        ]

    def needs(self) -> list[str]:
        """The modules of optional extras that the block's commands need."""
        if self.kind == "python":
            imported = {
                name.split(" as ")[0].split(".")[0].strip()
                for line in IMPORT.findall(self.text)
                for name in line.split(",")
            }
            found = [module for module in OPTIONAL_MODULES if module in imported]
        else:
            found = [module for pattern, module in NEEDS if pattern.search(self.text)]
        return sorted({*found, *self.marked})


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = REQUIRES_MARK.search(before)
        marked = tuple(m.strip() for m in mark.group(1).split(",")) if mark else ()
        doc = str(path.relative_to(root))
        found.append(Block(doc, line, match.group(1), match.group(2), marked))
    return found


def runnable_blocks(root: Path = ROOT) -> list[Block]:
    """The blocks the docs test runs (or skips with a reason): sh, console and python."""
    return [b for path in doc_files(root) for b in blocks(path, root) if b.kind in RUN_KINDS]


def ci_blocks(root: Path = ROOT) -> list[Block]:
    """The README's blocks that install bpcli: run by .ci/run, not by the test suite."""
    return [
        b
        for b in runnable_blocks(root)
        if b.doc == "README.md" and b.installs and b.extras() is None
    ]


def ci_commands(root: Path = ROOT) -> list[str]:
    """What .ci/run runs, in order: the lines of the README's set-up blocks, verbatim."""
    return [line for block in ci_blocks(root) for line in block.setup_lines()]


if __name__ == "__main__":
    if sys.argv[1:] != ["--ci"]:
        sys.exit("usage: python tests/docblocks.py --ci   (prints the README's set-up commands)")
    print("\n".join(ci_commands()))
