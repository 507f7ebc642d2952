"""Metrics accumulated chunk by chunk: loss, accuracy (classification), MAE and R² (regression)."""

from __future__ import annotations

import numpy as np

from bpcli.losses import Loss

LOWER_IS_BETTER = {"loss", "mae", "mse", "rmse"}


def predicted_classes(Yhat: np.ndarray, task: str) -> np.ndarray:
    """Class indices from network outputs: argmax (softmax) or ŷ > 0.5 (sigmoid)."""
    return Yhat.argmax(axis=1) if task == "classification" else (Yhat[:, 0] > 0.5).astype(np.int64)


class MetricAccumulator:
    """Sums the sufficient statistics of each metric over batches; `result` averages them."""

    def __init__(self, task: str):
        self.task = task
        self.count = 0
        self.loss_sum = 0.0
        self.correct = 0
        self.abs_error = 0.0
        self.sq_error = 0.0
        self.y_sum = 0.0
        self.y_sq_sum = 0.0
        self.elements = 0

    def update(self, Y: np.ndarray, Yhat: np.ndarray, batch_loss: float) -> None:
        rows = Yhat.shape[0]
        self.count += rows
        self.loss_sum += batch_loss * rows
        if self.task == "regression":
            residual = Yhat - Y
            self.abs_error += float(np.abs(residual).sum())
            self.sq_error += float(np.square(residual).sum())
            self.y_sum += float(Y.sum())
            self.y_sq_sum += float(np.square(Y, dtype=np.float64).sum())
            self.elements += Y.size
        else:
            truth = Y if self.task == "classification" else Y[:, 0]
            self.correct += int((predicted_classes(Yhat, self.task) == truth).sum())

    def result(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        metrics = {"loss": self.loss_sum / self.count}
        if self.task == "regression":
            variance = self.y_sq_sum - self.y_sum**2 / self.elements
            metrics["mae"] = self.abs_error / self.elements
            metrics["r2"] = 1.0 - self.sq_error / variance if variance > 0 else float("nan")
        else:
            metrics["accuracy"] = self.correct / self.count
        return metrics


def accumulate(
    network, X: np.ndarray, Y: np.ndarray, loss: Loss, task: str, chunk_rows=4096, on_chunk=None
) -> MetricAccumulator:
    """Run `network` over (X, Y) in chunks of rows, summing its metrics; `on_chunk(Y, Ŷ)`, if
    given, sees every chunk's targets and outputs too (Ŷ is overwritten by the next chunk)."""
    accumulator = MetricAccumulator(task)
    for start in range(0, X.shape[0], chunk_rows):
        Y_chunk = Y[start : start + chunk_rows]
        Yhat = network.forward(X[start : start + chunk_rows])
        accumulator.update(Y_chunk, Yhat, network.loss(Y_chunk, loss))
        if on_chunk is not None:
            on_chunk(Y_chunk, Yhat)
    return accumulator


def evaluate(network, X: np.ndarray, Y: np.ndarray, loss: Loss, task: str, chunk_rows=4096) -> dict:
    """Loss and metrics of `network` on (X, Y), computed in chunks of rows."""
    return accumulate(network, X, Y, loss, task, chunk_rows).result()
