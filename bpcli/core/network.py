r"""The multilayer perceptron: parameters W1, b1, …, WL, bL; forward pass (caches Z, A); backward pass.

Notation (README): A0 = X (n, d). For layer l = 1..L with W_l (fan_in, fan_out) and b_l (fan_out,):
    Z_l = A_{l-1}·W_l + b_l,   A_l = f_l(Z_l),   Ŷ = A_L.
Backward, from dZ_L given by the loss:
    dW_l = A_{l-1}ᵀ·dZ_l,   db_l = Σ_rows dZ_l,   dA_{l-1} = dZ_l·W_lᵀ,   dZ_{l-1} = dA_{l-1} ⊙ f'(Z_{l-1}).

How it is stored, for speed: each layer keeps P_l = [W_l; b_l] (fan_in + 1, fan_out) as one array (W_l
and b_l are views of it, and dW_l, db_l of dP_l), so an optimizer updates a layer with one BLAS call.
The bias costs no pass of its own: it is the starting value of the GEMM that adds A_{l-1}·W_l to it,
and its gradient db_l = 1ᵀ·dZ_l is a second, small GEMM beside dW_l. `backward` can hand each layer's
gradient over in factored form (`Gradient`), so that an optimizer takes its step inside that GEMM
(BLAS's β, see core/blas.py) instead of writing dP_l and reading it back.
Activations and deltas live in buffers reused from batch to batch, so a training step allocates
almost nothing; the arrays that `forward` returns are therefore overwritten by the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bpcli.core.activations import ACTIVATIONS, Activation
from bpcli.core.blas import gemm
from bpcli.core.initializers import INITIALIZERS
from bpcli.core.losses import Loss

Array = np.ndarray


@dataclass
class Parameter:
    """A named parameter tensor (W1, b1, …), its gradient, and whether weight decay applies to it."""

    name: str
    value: Array
    grad: Array
    decay: bool


@dataclass(slots=True)
class Gradient:
    r"""A layer's gradient dP = [dW; db] = [A_in 1]ᵀ·dZ, kept as its factors A_in (n, fan_in), dZ (n, fan_out).

    `into` multiplies them out straight into any P-shaped array, scaled and added, so an optimizer
    can take its step inside the GEMM rather than read a gradient array back.
    """

    A_in: Array
    dZ: Array
    ones: Array
    """A (1, n) row of ones: db = 1ᵀ·dZ."""

    def into(self, C: Array, alpha: float = 1.0, beta: float = 0.0, bias_beta=None) -> Array:
        r"""C ← α·dP + β·C for a P-shaped C, row blocks C_W = C[:-1] and C_b = C[-1]:
        C_W ← α·A_inᵀ·dZ + β·C_W,  C_b ← α·1ᵀ·dZ + β_b·C_b  (β_b = `bias_beta`, default β)."""
        gemm(self.A_in.T, self.dZ, C[:-1], alpha, beta)
        gemm(self.ones, self.dZ, C[-1:], alpha, beta if bias_beta is None else bias_beta)
        return C


class Layer:
    r"""One dense layer, Z = A_in·W + b and A = f(Z), with W and b stored together as P = [W; b].

    A layer's arithmetic is its three short methods: `forward`, `backward` (dA_in for the layer
    below) and `delta` (dZ from dA through f'). A post-activation transform (a dropout mask) belongs
    at the end of `forward` and, mirrored, at the start of `delta`.
    """

    def __init__(self, W: Array, b: Array, activation: Activation, number: int):
        self.P = np.concatenate([W, np.reshape(b, (1, -1)).astype(W.dtype)])
        self.dP = np.zeros_like(self.P)
        self.activation = activation
        self.weights = Parameter(f"W{number}", self.P[:-1], self.dP[:-1], True)
        self.bias = Parameter(f"b{number}", self.P[-1], self.dP[-1], False)

    # W, b, dW, db are views of P and dP; assigning to one writes into P (or dP).
    @property
    def W(self) -> Array:
        return self.P[:-1]

    @W.setter
    def W(self, value) -> None:
        self.P[:-1] = value

    @property
    def b(self) -> Array:
        return self.P[-1]

    @b.setter
    def b(self, value) -> None:
        self.P[-1] = value

    @property
    def dW(self) -> Array:
        return self.dP[:-1]

    @property
    def db(self) -> Array:
        return self.dP[-1]

    @property
    def width(self) -> int:
        return self.P.shape[1]

    def forward(self, A_in: Array, Z: Array, A: Array) -> Array:
        r"""Z = A_in·W + b, then A = f(Z), into the buffers Z and A (n, fan_out); returns A.

        Z starts as b (one write per row) and the GEMM adds A_in·W to it (β = 1), in place of the
        zero-fill a GEMM with β = 0 would do: the bias is free.
        """
        np.copyto(Z, self.b)
        gemm(A_in, self.W, Z, beta=1.0)
        return self.activation.forward(Z, A)

    def backward(self, dZ: Array, dA_in: Array) -> Array:
        r"""dA_in = dZ·Wᵀ (n, fan_in), the gradient passed to the layer below, into `dA_in`."""
        return gemm(dZ, self.W.T, dA_in)

    def delta(self, dA: Array, Z: Array, A: Array) -> Array:
        r"""dZ = dA ⊙ f'(Z), computed in place in dA; returns it."""
        return self.activation.backward(dA, Z, A, dA)


@dataclass(frozen=True)
class ForwardPass:
    """What the last forward pass cached: the input A_{l-1}, Z_l and A_l of every layer l = 1..L.

    The arrays are views into buffers the next pass overwrites: read them, copy what you keep.
    """

    inputs: tuple[Array, ...]
    Z: tuple[Array, ...]
    A: tuple[Array, ...]


def layer_widths(inputs: int, hidden: list[int], outputs: int) -> list[int]:
    """[d, h1, …, k]: the input width, the hidden widths, the output width."""
    return [inputs, *hidden, outputs]


UpdateFn = Callable[[Layer, Gradient], None]


class MLP:
    """A stack of dense layers trained by backpropagation."""

    def __init__(self, layers: list[Layer]):
        self.layers = layers
        self.dtype = layers[0].P.dtype
        self._buffers: dict[tuple[str, int], Array] = {}
        self._last = ForwardPass((), (), ())

    @classmethod
    def build(
        cls,
        widths: list[int],
        activation: str,
        output_activation: str,
        init: str,
        rng: np.random.Generator,
        dtype=np.float32,
        init_std: float = 0.01,
    ) -> MLP:
        """Initialise a network with layer widths [d, h1, …, k] (input, hidden…, output)."""
        initializer = INITIALIZERS[init]
        layers = []
        pairs = list(zip(widths[:-1], widths[1:], strict=False))
        for number, (fan_in, fan_out) in enumerate(pairs, start=1):
            W = initializer(rng, fan_in, fan_out, init_std).astype(dtype)
            name = output_activation if number == len(pairs) else activation
            layers.append(Layer(W, np.zeros(fan_out, dtype), ACTIVATIONS[name], number))
        return cls(layers)

    @classmethod
    def from_state(
        cls, arrays: dict[str, Array], activation: str, output_activation: str, dtype
    ) -> MLP:
        """Rebuild a network from saved tensors W1, b1, …, WL, bL."""
        count = sum(1 for name in arrays if name.startswith("W"))
        layers = [
            Layer(
                np.asarray(arrays[f"W{n}"], dtype),
                np.asarray(arrays[f"b{n}"], dtype),
                ACTIVATIONS[output_activation if n == count else activation],
                n,
            )
            for n in range(1, count + 1)
        ]
        return cls(layers)

    def copy(self, dtype=None) -> MLP:
        """An independent network with the same parameters, optionally cast to `dtype`."""
        dtype = dtype or self.dtype
        return MLP(
            [
                Layer(ly.W.astype(dtype), ly.b.astype(dtype), ly.activation, n)
                for n, ly in enumerate(self.layers, start=1)
            ]
        )

    @property
    def widths(self) -> list[int]:
        return [self.layers[0].W.shape[0]] + [layer.width for layer in self.layers]

    def parameters(self) -> list[Parameter]:
        """θ = [W1, b1, W2, b2, …]: views of each layer's P and dP; weight decay applies to the W only."""
        return [p for layer in self.layers for p in (layer.weights, layer.bias)]

    def state(self) -> dict[str, Array]:
        """The parameters by name (W1, b1, …): what a run saves as its weights."""
        return {p.name: p.value for p in self.parameters()}

    def load_state(self, arrays: dict[str, Array]) -> None:
        """Copy arrays named W1, b1, … into the parameters (shapes must match; checked by the caller)."""
        for p in self.parameters():
            np.copyto(p.value, arrays[p.name], casting="unsafe")

    def parameter_count(self) -> int:
        return sum(layer.P.size for layer in self.layers)

    @property
    def last_pass(self) -> ForwardPass:
        """The inputs, Z_l and A_l of the last forward pass (read-only views; see ForwardPass)."""
        return self._last

    def _buffer(self, kind: str, index: int, rows: int, width: int) -> Array:
        """A reusable (rows, width) work array, grown when a bigger batch arrives."""
        buffer = self._buffers.get((kind, index))
        if buffer is None or buffer.shape[0] < rows:
            buffer = np.empty((rows, width), self.dtype)
            self._buffers[(kind, index)] = buffer
        return buffer[:rows]

    def _ones(self, rows: int) -> Array:
        """A (1, rows) row of ones."""
        ones = self._buffers.get(("ones", 0))
        if ones is None or ones.shape[1] < rows:
            ones = self._buffers[("ones", 0)] = np.ones((1, rows), self.dtype)
        return ones[:, :rows]

    def _input(self, X: Array, rows) -> Array:
        """A0: X itself when it is already a C-contiguous array of the network's dtype; else X, or
        the rows X[rows], gathered into the reused input buffer."""
        if rows is None and X.dtype == self.dtype and X.flags.c_contiguous:
            return X
        count = X.shape[0] if rows is None else len(rows)
        A0 = self._buffer("input", 0, count, X.shape[1])
        if rows is None:
            np.copyto(A0, X, casting="same_kind")
        elif X.dtype == self.dtype:
            # mode="clip" (the rows are valid) lets numpy write straight into the buffer
            np.take(X, rows, axis=0, out=A0, mode="clip")
        else:
            np.copyto(A0, X[rows], casting="same_kind")
        return A0

    def forward(self, X: Array, rows=None) -> Array:
        """Ŷ = A_L for a batch X (n, d), or for the rows X[rows] of a larger X (gathered straight
        into the network's input buffer, no copy of X); caches every Z_l and A_l for `backward`."""
        A = self._input(X, rows)
        count = A.shape[0]
        inputs, Zs, As = [], [], []
        for index, layer in enumerate(self.layers):
            inputs.append(A)
            Z = self._buffer("Z", index, count, layer.width)
            A = layer.forward(A, Z, self._buffer("A", index, count, layer.width))
            Zs.append(Z)
            As.append(A)
        self._last = ForwardPass(tuple(inputs), tuple(Zs), tuple(As))
        return A

    def loss(self, Y: Array, loss: Loss) -> float:
        """The batch-mean loss of the last forward pass."""
        return loss.value(Y, self._last.Z[-1], self._last.A[-1])

    def backward(self, Y: Array, loss: Loss, update: UpdateFn | None = None) -> None:
        """Backpropagate `loss` at the last forward pass, from layer L down to layer 1.

        Without `update`, fill every dP_l = [dW_l; db_l]. With it, call update(layer, gradient) for
        each layer instead (no dP_l is written), right after dA_{l-1} = dZ_l·W_lᵀ has used the
        layer's weights: an optimizer may then change them (see Optimizer.fused_step).
        """
        inputs, Zs, As = self._last.inputs, self._last.Z, self._last.A
        rows, last = Y.shape[0], len(self.layers) - 1
        ones = self._ones(rows)
        dZ = self._buffer("dZ", last, rows, self.layers[last].width)
        loss.output_delta(Y, Zs[-1], As[-1], self.layers[-1].activation, dZ)
        for index in range(last, -1, -1):
            layer = self.layers[index]
            if index > 0:
                below = self.layers[index - 1]
                dA = layer.backward(dZ, self._buffer("dZ", index - 1, rows, below.width))
            gradient = Gradient(inputs[index], dZ, ones)
            if update is None:
                gradient.into(layer.dP)
            else:
                update(layer, gradient)
            if index > 0:
                dZ = below.delta(dA, Zs[index - 1], As[index - 1])

    def predict(self, X: Array, chunk_rows: int = 4096) -> Array:
        """Ŷ for any number of rows, computed in chunks of `chunk_rows` (bounded memory)."""
        out = np.empty((X.shape[0], self.layers[-1].width), self.dtype)
        for start in range(0, X.shape[0], chunk_rows):
            stop = start + chunk_rows
            out[start:stop] = self.forward(X[start:stop])
        return out
