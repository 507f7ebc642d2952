r"""Metrics of a network on labelled data, accumulated chunk by chunk (bounded memory).

Training's per-epoch numbers (loss, accuracy; MAE and R² for regression) and `bpcli eval`'s report come
from the same accumulator, so they agree. The report adds, for classification, per-class precision
P_c = TP_c / (TP_c + FP_c), recall R_c = TP_c / (TP_c + FN_c), F1_c = 2 P_c R_c / (P_c + R_c) (0 when a
denominator is 0), macro F1 = mean_c F1_c and the confusion matrix C[true, predicted]; for regression
(over all n·k outputs) MSE, RMSE = √MSE, MAE and R².

R² is computed per output column j, R²_j = 1 − SSE_j / SST_j with SST_j = Σ_i (y_ij − ȳ_j)², and
averaged uniformly over the k columns, as sklearn.metrics.r2_score does by default (a column with
SST_j = 0 scores 1 if predicted exactly, else 0; fewer than two rows give NaN). Sums are float64;
SST_j is merged chunk by chunk from per-chunk means and squared deviations (Chan et al.), never
as Σy² − (Σy)²/n, which cancels when the targets' spread is small against their mean.
With row weights r (class and sample weights) the loss is their weighted mean Σ r_i l_i / Σ r_i, as
training minimises it; accuracy and the other metrics count every row once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bpcli.core.losses import Loss
from bpcli.errors import DataError

LOWER_IS_BETTER = {"loss", "mae", "mse", "rmse"}
SPLIT_PREFIXES = {"train": "train_", "validation": "val_", "test": "test_"}
"""Metrics of a split, flattened to one name: val_accuracy is the validation split's accuracy."""


def flatten_metrics(by_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """{'validation': {'loss': …}, …} (a run summary's metrics) -> {'val_loss': …, …}."""
    return {
        SPLIT_PREFIXES[split] + name: value
        for split, scores in by_split.items()
        for name, value in scores.items()
    }


def metric_names(task: str, with_validation: bool) -> list[str]:
    """The per-epoch metrics of a run: loss and accuracy (or mae, r2), also as val_<metric>."""
    names = ["loss", "accuracy"] if task != "regression" else ["loss", "mae", "r2"]
    return names + [f"val_{n}" for n in names] if with_validation else names


def predicted_classes(Yhat: np.ndarray, task: str) -> np.ndarray:
    """Class indices from network outputs: argmax (softmax) or ŷ > 0.5 (sigmoid)."""
    return Yhat.argmax(axis=1) if task == "classification" else (Yhat[:, 0] > 0.5).astype(np.int64)


class MetricAccumulator:
    """Sums the sufficient statistics of each metric over batches; `result` averages them.

    `target_std` (per output column): the regression targets were standardized, y' = (y − μ)/σ, so
    every metric, the loss included, is computed from y' σ = y − μ and ŷ' σ = ŷ − μ, in the
    target's own units (`loss` recomputes the loss there; the batch loss given is then unused).
    """

    def __init__(self, task: str, loss: Loss | None = None, target_std=None):
        self.task = task
        self.loss = loss
        self.target_std = None if target_std is None else np.asarray(target_std, np.float64)
        self.count = 0
        self.loss_weight = 0.0
        self.loss_sum = 0.0
        self.correct = 0
        self.abs_error = 0.0
        self.sq_error = 0.0
        self.column_sq_error: np.ndarray | float = 0.0
        self.column_mean: np.ndarray | float = 0.0
        self.column_spread: np.ndarray | float = 0.0
        """Per output column: Σ (ŷ − y)², the mean ȳ and Σ (y − ȳ)² of the rows so far (float64)."""
        self.elements = 0

    def update(
        self, Y: np.ndarray, Yhat: np.ndarray, batch_loss: float, weights: np.ndarray | None = None
    ) -> None:
        """Add a batch; `batch_loss` is its (weighted) mean, `weights` its row weights, if any."""
        rows = Yhat.shape[0]
        if self.task == "regression" and self.target_std is not None:
            Y, Yhat = Y * self.target_std, Yhat * self.target_std
            batch_loss = self.loss.value(Y, None, Yhat, weights)
        self.count += rows
        weight = rows if weights is None else float(weights.sum(dtype=np.float64))
        self.loss_weight += weight
        self.loss_sum += batch_loss * weight
        if self.task == "regression":
            residual = Yhat - Y
            self.abs_error += float(np.abs(residual).sum(dtype=np.float64))
            column_sq_error = np.square(residual).sum(axis=0, dtype=np.float64)
            self.column_sq_error = self.column_sq_error + column_sq_error
            self.sq_error += float(column_sq_error.sum())
            self.elements += Y.size
            self._merge_spread(Y, rows)
        else:
            truth = Y if self.task == "classification" else Y[:, 0]
            self.correct += int((predicted_classes(Yhat, self.task) == truth).sum())

    def _merge_spread(self, Y: np.ndarray, rows: int) -> None:
        """Fold a chunk's column means and squared deviations into the running ones (Chan et al.)."""
        mean = Y.mean(axis=0, dtype=np.float64)
        spread = np.square(Y - mean).sum(axis=0, dtype=np.float64)
        before = self.count - rows
        delta = mean - self.column_mean
        self.column_mean = self.column_mean + delta * (rows / self.count)
        self.column_spread = self.column_spread + spread + delta**2 * (before * rows / self.count)

    def r2(self) -> float:
        """R² per output column, averaged uniformly (sklearn.metrics.r2_score's default)."""
        if self.count < 2:
            return float("nan")
        sse, sst = np.atleast_1d(self.column_sq_error), np.atleast_1d(self.column_spread)
        constant = sst == 0
        scores = np.where(constant, (sse == 0).astype(float), 0.0)
        np.divide(sse, sst, out=scores, where=~constant)
        np.subtract(1.0, scores, out=scores, where=~constant)
        return float(scores.mean())

    def result(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        metrics = {"loss": self.loss_sum / self.loss_weight}
        if self.task == "regression":
            metrics["mae"] = self.abs_error / self.elements
            metrics["r2"] = self.r2()
        else:
            metrics["accuracy"] = self.correct / self.count
        return metrics


def accumulate(
    network,
    X: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    task: str,
    chunk_rows=4096,
    on_chunk=None,
    target_std=None,
    rows: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> MetricAccumulator:
    """Run `network` over (X, Y), or over (X[rows], Y) when `rows` is given, in chunks of rows,
    summing its metrics (the loss weighted by the row `weights`, aligned with Y, if given);
    `on_chunk(Y, Ŷ)`, if given, sees every chunk's targets and outputs too (Ŷ is overwritten by the
    next chunk). `target_std`: see MetricAccumulator."""
    accumulator = MetricAccumulator(task, loss, target_std)
    for start in range(0, len(Y), chunk_rows):
        Y_chunk = Y[start : start + chunk_rows]
        w_chunk = None if weights is None else weights[start : start + chunk_rows]
        if rows is None:
            Yhat = network.forward(X[start : start + chunk_rows])
        else:
            Yhat = network.forward(X, rows[start : start + chunk_rows])
        accumulator.update(Y_chunk, Yhat, network.loss(Y_chunk, loss, w_chunk), w_chunk)
        if on_chunk is not None:
            on_chunk(Y_chunk, Yhat)
    return accumulator


def evaluate(network, X: np.ndarray, Y: np.ndarray, loss: Loss, task: str, **options) -> dict:
    """Loss and metrics of `network` on (X, Y), computed in chunks of rows; `options` are those of
    `accumulate` (chunk_rows; target_std: in the target's own units; rows: on (X[rows], Y); row
    weights)."""
    return accumulate(network, X, Y, loss, task, **options).result()


@dataclass
class Report:
    """What `bpcli eval` shows: headline metrics, and for classification the per-class detail."""

    task: str
    rows: int
    metrics: dict[str, float]
    labels: list = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    origin: str = ""
    """Where the rows came from (a split's name, a file)."""

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


def evaluate_network(
    network, X: np.ndarray, Y: np.ndarray, loss: Loss, labels=None, weights=None, target_std=None
) -> Report:
    """Loss (weighted by row `weights`, if given) and metrics of `network` on (X, Y), computed
    chunk by chunk (bounded memory); regression metrics in the target's own units when `target_std`
    is given (see MetricAccumulator)."""
    task = loss.task
    confusion = np.zeros((len(labels), len(labels)), np.int64) if task != "regression" else None

    def count(Y_chunk, Yhat):
        truth = Y_chunk if task == "classification" else Y_chunk[:, 0].astype(np.int64)
        np.add.at(confusion, (truth, predicted_classes(Yhat, task)), 1)

    on_chunk = count if confusion is not None else None
    accumulator = accumulate(
        network, X, Y, loss, task, on_chunk=on_chunk, target_std=target_std, weights=weights
    )
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


# ---------------------------------------------------------------------------- gates


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
