"""A small loss chart in plain text (block characters), shown on stderr at the end of training."""

from __future__ import annotations

import math

BLOCKS = " ▁▂▃▄▅▆▇█"
LOG_SPAN = 100


def resample(values: list[float], width: int) -> list[float]:
    """At most `width` points: consecutive values averaged in equal buckets, or each value repeated."""
    n = len(values)
    if n <= width:
        repeat = max(1, min(4, width // n))
        return [v for v in values for _ in range(repeat)]
    edges = [round(i * n / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def columns(values: list[float], height: int) -> list[str]:
    """Each value as a column of `height` cells, filled in eighths from the bottom (min shows as ▁)."""
    lo, hi = min(values), max(values)
    levels = height * 8
    cells = []
    for value in values:
        share = (value - lo) / (hi - lo) if hi > lo else 0.5
        filled = 1 + round(share * (levels - 1))
        cells.append(
            "".join(BLOCKS[max(0, min(8, filled - 8 * row))] for row in range(height - 1, -1, -1))
        )
    return cells


def loss_chart(epochs: list[dict], key: str = "loss", width: int = 60, height: int = 6) -> str:
    """A block chart of `key` per epoch with its range on the left; '' when there is nothing to draw."""
    values = [float(r[key]) for r in epochs if key in r and math.isfinite(float(r[key]))]
    if len(values) < 2:
        return ""
    # Losses often fall by decades: then a log scale shows the shape of the whole run.
    log = min(values) > 0 and max(values) / min(values) > LOG_SPAN
    drawn = [math.log10(v) for v in values] if log else values
    cells = columns(resample(drawn, width), height)
    top, bottom = f"{max(values):.4g}", f"{min(values):.4g}"
    margin = max(len(top), len(bottom))
    lines = [f"{key} per epoch{' (log scale)' if log else ''}"]
    for row in range(height):
        label = top if row == 0 else bottom if row == height - 1 else ""
        lines.append(f"{label:>{margin}} │" + "".join(cell[row] for cell in cells))
    axis = f"epoch 1{'':{max(1, len(cells) - 7 - len(str(len(values))))}}{len(values)}"
    lines.append(f"{'':>{margin}} └{'─' * len(cells)}")
    lines.append(f"{'':>{margin}}  {axis}")
    return "\n".join(lines)


def summary_line(epochs: list[dict], key: str = "val_loss") -> str:
    """'val_loss 0.41 -> 0.09 (best 0.08 at epoch 23)', or '' when the runs has no such metric."""
    points = [(r["epoch"], float(r[key])) for r in epochs if key in r]
    if not points:
        return ""
    best_epoch, best = min(points, key=lambda p: p[1])
    return (
        f"{key} {points[0][1]:.4g} -> {points[-1][1]:.4g} (best {best:.4g} at epoch {best_epoch})"
    )
