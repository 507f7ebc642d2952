r"""Evaluation of a trained network on labelled data: loss and metrics in one chunked pass.

Classification: accuracy, per-class precision P_c = TP_c / (TP_c + FP_c), recall R_c = TP_c / (TP_c + FN_c),
F1_c = 2 P_c R_c / (P_c + R_c) (0 when a denominator is 0), macro F1 = mean_c F1_c, and the confusion
matrix C[true, predicted]. Regression (over all n·k outputs): MSE, RMSE = √MSE, MAE, R² = 1 − SSE / SST.
Loss, accuracy, MAE and R² come from `bpcli.metrics`, so they equal the numbers training reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bpcli.errors import DataError
from bpcli.losses import Loss
from bpcli.metrics import LOWER_IS_BETTER, accumulate, predicted_classes


@dataclass
class Report:
    """What `bpcli eval` shows: headline metrics, and for classification the per-class detail."""

    task: str
    rows: int
    metrics: dict[str, float]
    labels: list = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        document = {"task": self.task, "rows": self.rows, "metrics": self.metrics}
        if self.task != "regression":
            document["per_class"] = self.per_class
            document["confusion_matrix"] = {
                "labels": self.labels,
                "rows": "true",
                "columns": "predicted",
                "matrix": self.confusion,
            }
        return document


def evaluate_network(network, X: np.ndarray, Y: np.ndarray, loss: Loss, labels=None) -> Report:
    """Loss and metrics of `network` on (X, Y), computed chunk by chunk (bounded memory)."""
    task = loss.task
    confusion = np.zeros((len(labels), len(labels)), np.int64) if task != "regression" else None

    def count(Y_chunk, Yhat):
        truth = Y_chunk if task == "classification" else Y_chunk[:, 0].astype(np.int64)
        np.add.at(confusion, (truth, predicted_classes(Yhat, task)), 1)

    on_chunk = count if confusion is not None else None
    accumulator = accumulate(network, X, Y, loss, task, on_chunk=on_chunk)
    metrics = accumulator.result()
    if task == "regression":
        mse = accumulator.sq_error / accumulator.elements
        metrics = {
            "loss": metrics["loss"],
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": metrics["mae"],
            "r2": metrics["r2"],
        }
        return Report(task, X.shape[0], metrics)
    per_class, f1s = class_scores(confusion, labels)
    metrics["macro_f1"] = float(np.mean(f1s))
    return Report(task, X.shape[0], metrics, list(labels), per_class, confusion.tolist())


def class_scores(confusion: np.ndarray, labels: list) -> tuple[list[dict], list[float]]:
    """Precision, recall, F1 and support of every class from the confusion matrix C[true, pred]."""
    true_positive = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    rows, f1s = [], []
    for c, label in enumerate(labels):
        precision = true_positive[c] / predicted[c] if predicted[c] else 0.0
        recall = true_positive[c] / actual[c] if actual[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        rows.append(
            {
                "label": label,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(actual[c]),
            }
        )
    return rows, f1s


@dataclass(frozen=True)
class Bar:
    """A --fail-under bar: metric >= value, or metric <= value for loss-like metrics."""

    metric: str
    value: float

    @property
    def upper(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    def met(self, score: float) -> bool:
        if math.isnan(score):
            return False
        return score <= self.value if self.upper else score >= self.value

    def describe(self, score: float) -> str:
        relation = "above the maximum" if self.upper else "below the minimum"
        return f"{self.metric} {score:.6g} is {relation} {self.value:g}"


def parse_bars(texts: list[str]) -> list[Bar]:
    """`metric=value` strings -> bars; a malformed one is a usage error."""
    bars = []
    for text in texts:
        metric, sep, value = text.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not metric.strip() or number is None or math.isnan(number):
            raise DataError(
                f"--fail-under '{text}' is not METRIC=NUMBER",
                "for example --fail-under accuracy=0.9",
            )
        bars.append(Bar(metric.strip(), number))
    return bars


def missed_bars(bars: list[Bar], metrics: dict[str, float]) -> list[str]:
    """Messages for the bars the metrics miss; an unknown metric name is a usage error."""
    for bar in bars:
        if bar.metric not in metrics:
            raise DataError(
                f"--fail-under: '{bar.metric}' is not reported for this model",
                f"available: {', '.join(metrics)}",
            )
    return [bar.describe(metrics[bar.metric]) for bar in bars if not bar.met(metrics[bar.metric])]
