r"""The multilayer perceptron: parameters W1, b1, …, WL, bL; forward pass (caches Z, A); backward pass.

Notation (docs/math.md): A0 = X (n, d). For layer l = 1..L with W_l (fan_in, fan_out) and b_l (fan_out,):
    Z_l = A_{l-1}·W_l + b_l,   A_l = f_l(Z_l),   Ŷ = A_L.
Backward, from dZ_L given by the loss:
    dW_l = A_{l-1}ᵀ·dZ_l,   db_l = Σ_rows dZ_l,   dA_{l-1} = dZ_l·W_lᵀ,   dZ_{l-1} = dA_{l-1} ⊙ f'(Z_{l-1}).
Activations and deltas live in buffers reused from batch to batch, so a training step allocates
almost nothing; the arrays that `forward` returns are therefore overwritten by the next call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bpcli.core.activations import ACTIVATIONS, Activation
from bpcli.core.initializers import INITIALIZERS
from bpcli.core.losses import Loss

Array = np.ndarray


@dataclass
class Layer:
    """One dense layer A = f(A_prev·W + b) with its gradient slots dW, db."""

    W: Array
    b: Array
    activation: Activation
    dW: Array = field(init=False)
    db: Array = field(init=False)

    def __post_init__(self):
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)


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


@dataclass
class Parameter:
    """A named parameter tensor (W1, b1, …), its gradient, and whether weight decay applies to it."""

    name: str
    value: Array
    grad: Array
    decay: bool


class MLP:
    """A stack of dense layers trained by backpropagation."""

    def __init__(self, layers: list[Layer]):
        self.layers = layers
        self.dtype = layers[0].W.dtype
        self._buffers: dict[tuple[str, int], Array] = {}
        self._inputs: list[Array] = []
        self._Z: list[Array] = []
        self._A: list[Array] = []

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
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
            is_output = index == len(widths) - 2
            W = initializer(rng, fan_in, fan_out, init_std).astype(dtype)
            name = output_activation if is_output else activation
            layers.append(Layer(W, np.zeros(fan_out, dtype), ACTIVATIONS[name]))
        return cls(layers)

    @classmethod
    def from_state(
        cls, arrays: dict[str, Array], activation: str, output_activation: str, dtype
    ) -> MLP:
        """Rebuild a network from saved tensors W1, b1, …, WL, bL."""
        count = sum(1 for name in arrays if name.startswith("W"))
        layers = [
            Layer(
                np.asarray(arrays[f"W{n}"], dtype).copy(),
                np.asarray(arrays[f"b{n}"], dtype).copy(),
                ACTIVATIONS[output_activation if n == count else activation],
            )
            for n in range(1, count + 1)
        ]
        return cls(layers)

    def copy(self, dtype=None) -> MLP:
        """An independent network with the same parameters, optionally cast to `dtype`."""
        dtype = dtype or self.dtype
        return MLP(
            [Layer(ly.W.astype(dtype), ly.b.astype(dtype), ly.activation) for ly in self.layers]
        )

    @property
    def widths(self) -> list[int]:
        return [self.layers[0].W.shape[0]] + [layer.W.shape[1] for layer in self.layers]

    def parameters(self) -> list[Parameter]:
        """θ = [W1, b1, W2, b2, …] with their gradients; weight decay applies to the W only."""
        params = []
        for number, layer in enumerate(self.layers, start=1):
            params.append(Parameter(f"W{number}", layer.W, layer.dW, True))
            params.append(Parameter(f"b{number}", layer.b, layer.db, False))
        return params

    def state(self) -> dict[str, Array]:
        """The parameters by name (W1, b1, …): what a run saves as its weights."""
        return {p.name: p.value for p in self.parameters()}

    def load_state(self, arrays: dict[str, Array]) -> None:
        """Copy arrays named W1, b1, … into the parameters (shapes must match; checked by the caller)."""
        for p in self.parameters():
            np.copyto(p.value, arrays[p.name], casting="unsafe")

    def parameter_count(self) -> int:
        return sum(p.value.size for p in self.parameters())

    @property
    def last_pass(self) -> ForwardPass:
        """The inputs, Z_l and A_l of the last forward pass (read-only views; see ForwardPass)."""
        return ForwardPass(tuple(self._inputs), tuple(self._Z), tuple(self._A))

    def _buffer(self, kind: str, layer: int, rows: int) -> Array:
        """A reusable (rows, width) work array for `layer`, grown when a bigger batch arrives."""
        buffer = self._buffers.get((kind, layer))
        if buffer is None or buffer.shape[0] < rows:
            width = self.layers[layer].W.shape[1]
            buffer = np.empty((rows, width), self.dtype)
            self._buffers[(kind, layer)] = buffer
        return buffer[:rows]

    def forward(self, X: Array) -> Array:
        """Ŷ = A_L for a batch X (n, d); caches every Z_l and A_l for `backward`."""
        rows = X.shape[0]
        self._inputs, self._Z, self._A = [], [], []
        A = X
        for index, layer in enumerate(self.layers):
            self._inputs.append(A)
            Z = np.matmul(A, layer.W, out=self._buffer("Z", index, rows))
            Z += layer.b
            A = layer.activation.forward(Z, self._buffer("A", index, rows))
            self._Z.append(Z)
            self._A.append(A)
        return A

    def loss(self, Y: Array, loss: Loss) -> float:
        """The batch-mean loss of the last forward pass."""
        return loss.value(Y, self._Z[-1], self._A[-1])

    def backward(self, Y: Array, loss: Loss) -> None:
        """Fill every dW_l, db_l with the gradient of `loss` at the last forward pass."""
        last = len(self.layers) - 1
        dZ = self._buffer("dZ", last, Y.shape[0])
        loss.output_delta(Y, self._Z[-1], self._A[-1], self.layers[-1].activation, dZ)
        for index in range(last, -1, -1):
            layer = self.layers[index]
            np.matmul(self._inputs[index].T, dZ, out=layer.dW)
            np.sum(dZ, axis=0, out=layer.db)
            if index > 0:
                dA = np.matmul(dZ, layer.W.T, out=self._buffer("dZ", index - 1, Y.shape[0]))
                below = self.layers[index - 1]
                dZ = below.activation.backward(dA, self._Z[index - 1], self._A[index - 1], dA)

    def predict(self, X: Array, chunk_rows: int = 4096) -> Array:
        """Ŷ for any number of rows, computed in chunks of `chunk_rows` (bounded memory)."""
        out = np.empty((X.shape[0], self.layers[-1].W.shape[1]), self.dtype)
        for start in range(0, X.shape[0], chunk_rows):
            stop = start + chunk_rows
            out[start:stop] = self.forward(X[start:stop])
        return out
