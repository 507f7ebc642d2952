r"""`bpcli explain`: the forward and backward equations a network runs, with its real shapes.

The formulas come from the registries the engine runs (activations, losses, optimizers, schedules),
so they cannot drift from the code; this module only lays out the per-layer structure that
`bpcli/core/network.py` implements (Z_l = A_{l-1}·W_l + b_l, …) and renders it as plain text or Markdown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from bpcli.config import Config
from bpcli.core.activations import Activation
from bpcli.core.losses import LOSSES, Loss
from bpcli.core.network import MLP
from bpcli.core.optimizers import OPTIMIZERS, Optimizer
from bpcli.core.schedules import SCHEDULES
from bpcli.runs.resolve import config_or_run

Shape = tuple[int, ...]

# The symbols of optimizer rules and schedule docstrings -> (config key, LaTeX); a symbol is looked
# for as a whole word, so "E" (the epochs) does not match inside "step_size".
OPTIMIZER_SYMBOLS = {
    "α": ("lr", r"\alpha"),
    "μ": ("momentum", r"\mu"),
    "ρ": ("rho", r"\rho"),
    "β1": ("beta1", r"\beta_1"),
    "β2": ("beta2", r"\beta_2"),
    "ε": ("eps", r"\varepsilon"),
    "λ": ("weight_decay", r"\lambda"),
}
SCHEDULE_SYMBOLS = {
    "γ": ("gamma", r"\gamma"),
    "step_size": ("step_size", r"\mathit{step\_size}"),
    "α_min": ("min_lr", r"\alpha_{\min}"),
    "E": ("epochs", "E"),
}


@dataclass(frozen=True)
class Line:
    """One line: an equation (plain text and LaTeX) with the shapes it combines, or a prose remark.

    `operands` are the input shapes joined by `ops` ("·", "+", "⊙", "−"), `shape` is the result; an
    equation that defines an array (Z1, dW1, …) carries its `name`. `note` is a remark printed with
    the equation; `note_latex` is the same remark as Markdown, and so is `latex` for prose.
    """

    text: str
    latex: str
    name: str | None = None
    operands: tuple[Shape, ...] = ()
    ops: tuple[str, ...] = ()
    shape: Shape | None = None
    note: str = ""
    note_latex: str = ""
    prose: bool = False


@dataclass
class Section:
    title: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class Explanation:
    """The equations of one network for a batch of `batch` rows, grouped in sections."""

    title: str
    batch: int
    sections: list[Section]

    def shapes(self) -> dict[str, Shape]:
        """The shape of every array an equation defines: Z1, A1, …, dZ1, dW1, db1, dA1, …"""
        return {
            line.name: line.shape
            for section in self.sections
            for line in section.lines
            if line.name and line.shape is not None
        }


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def prose(text: str, markdown: str | None = None) -> Line:
    return Line(text, markdown if markdown is not None else text, prose=True)


def _sub(symbol: str, index: int | str) -> str:
    return f"{symbol}_{{{index}}}"


def _op(name: str) -> str:
    escaped = name.replace("_", "\\_")
    return rf"\operatorname{{{escaped}}}"


def _main(formula: str) -> tuple[str, str]:
    """Split a registry formula into the formula and its trailing remark `  (…)`, if any."""
    match = re.search(r"\s{2,}\((.*)\)\s*$", formula)
    return (formula[: match.start()], match.group(1)) if match else (formula, "")


def _elementwise(activation: Activation) -> bool:
    # Elementwise activations write their derivative as f'(z); softmax writes its whole backward
    # rule (a Jacobian-vector product per row), because dZ_i depends on every unit of the row.
    return activation.derivative.startswith("f'(z)")


def _forward(network: MLP, n: int) -> Section:
    section = Section("Forward pass")
    widths, last = network.widths, len(network.layers)
    section.lines.append(Line("A0 = X", "A_{0} = X", "A0", (), (), (n, widths[0])))
    for number, layer in enumerate(network.layers, start=1):
        fan_in, fan_out = layer.W.shape
        section.lines.append(
            Line(
                f"Z{number} = A{number - 1}·W{number} + b{number}",
                f"{_sub('Z', number)} = {_sub('A', number - 1)} {_sub('W', number)} + {_sub('b', number)}",
                f"Z{number}",
                ((n, fan_in), (fan_in, fan_out), (fan_out,)),
                ("·", "+"),
                (n, fan_out),
            )
        )
        act = layer.activation
        output = " = Ŷ" if number == last else ""
        section.lines.append(
            Line(
                f"A{number} = {act.name}(Z{number}){output}",
                f"{_sub('A', number)} = {_op(act.name)}({_sub('Z', number)})"
                + (r" = \hat Y" if output else ""),
                f"A{number}",
                ((n, fan_out),),
                (),
                (n, fan_out),
                f"{act.name}: {act.formula}",
                f"{act.name}: ${act.formula_latex}$",
            )
        )
    return section


STANDARDIZED = (
    "the targets standardized with the training split's mean and std, (y − μ)/σ "
    "(predictions are mapped back, ŷσ + μ; reported losses are in the target's units)"
)


def _targets(loss: Loss, n: int, k: int, standardized: bool = False) -> tuple[Shape, str, int]:
    """The shape of Y, what it holds, and how many terms the loss averages."""
    if loss.task == "classification":
        return (n,), "class indices", n
    if loss.task == "binary":
        return (n, k), "0/1 labels", n * k
    return (n, k), STANDARDIZED if standardized else "targets", n * k


def _loss(network: MLP, loss: Loss, n: int, standardized: bool = False) -> Section:
    k = network.widths[-1]
    y_shape, holds, terms = _targets(loss, n, k, standardized)
    formula, remark = _main(loss.formula)
    if loss.task == "classification":
        over, over_latex = f"the n = {_plural(n, 'row')}", f"the $n = {n}$ rows"
    else:
        over = f"all n·k = {n}·{k} elements"
        over_latex = f"all $n k = {n} \\cdot {k} = {terms}$ elements"
    return Section(
        f"Loss: {loss.name}",
        [
            Line(formula, loss.formula_latex, note=remark, note_latex=remark),
            Line(
                f"L = {loss.name}(Ŷ, Y)",
                rf"L = {_op(loss.name)}(\hat Y, Y)",
                "L",
                ((n, k), y_shape),
                (",",),
                (),
                f"Y holds {holds}",
                f"$Y$ holds {holds}",
            ),
            prose(
                f"L is the mean over {over} ({_plural(terms, 'term')}), so every gradient below carries its 1/{terms}.",
                f"$L$ is the mean over {over_latex}, so every gradient below carries its $1/{terms}$.",
            ),
        ],
    )


def _output_delta(network: MLP, loss: Loss, n: int) -> list[Line]:
    """dZ_L: straight from the loss when it is fused with its activation, else dŶ ⊙ g'(Z_L)."""
    last, k = len(network.layers), network.widths[-1]
    y_shape = _targets(loss, n, k)[0]
    gradient, remark = _main(loss.gradient)
    if loss.output_activation is not None:
        return [
            Line(
                f"dZ{last} = {gradient}",
                f"{_sub('dZ', last)} = {loss.gradient_latex}",
                f"dZ{last}",
                ((n, k), y_shape),
                ("−",),
                (n, k),
                remark,
                remark,
            )
        ]
    return [
        Line(
            f"dA{last} = {gradient}",
            f"{_sub('dA', last)} = {loss.gradient_latex}",
            f"dA{last}",
            ((n, k), (n, k)),
            ("−",),
            (n, k),
            remark,
            remark,
        ),
        _activation_delta(network.layers[-1].activation, last, n, k),
    ]


def _activation_delta(act: Activation, number: int, n: int, width: int) -> Line:
    """dZ_l from dA_l through the activation's derivative."""
    if _elementwise(act):
        return Line(
            f"dZ{number} = dA{number} ⊙ {act.name}'(Z{number})",
            rf"{_sub('dZ', number)} = {_sub('dA', number)} \odot {_op(act.name)}'({_sub('Z', number)})",
            f"dZ{number}",
            ((n, width), (n, width)),
            ("⊙",),
            (n, width),
            f"{act.name}: {act.derivative}",
            f"{act.name}: ${act.derivative_latex}$",
        )
    return Line(
        f"dZ{number} = {act.name}'(Z{number})ᵀ·dA{number}, row by row",
        rf"{_sub('dZ', number)} = {_op(act.name)}'({_sub('Z', number)})^\top {_sub('dA', number)}"
        r"\text{, row by row}",
        f"dZ{number}",
        ((n, width), (n, width)),
        ("·",),
        (n, width),
        f"{act.name}: {act.derivative}",
        f"{act.name}: ${act.derivative_latex}$",
    )


def _backward(network: MLP, loss: Loss, n: int) -> Section:
    section = Section("Backward pass")
    section.lines.extend(_output_delta(network, loss, n))
    for number in range(len(network.layers), 0, -1):
        layer = network.layers[number - 1]
        fan_in, fan_out = layer.W.shape
        section.lines += [
            Line(
                f"dW{number} = A{number - 1}ᵀ·dZ{number}",
                rf"{_sub('dW', number)} = {_sub('A', number - 1)}^\top {_sub('dZ', number)}",
                f"dW{number}",
                ((fan_in, n), (n, fan_out)),
                ("·",),
                (fan_in, fan_out),
            ),
            Line(
                f"db{number} = Σ_rows dZ{number}",
                rf"{_sub('db', number)} = \sum_{{\text{{rows}}}} {_sub('dZ', number)}",
                f"db{number}",
                ((n, fan_out),),
                (),
                (fan_out,),
            ),
        ]
        if number > 1:
            section.lines.append(
                Line(
                    f"dA{number - 1} = dZ{number}·W{number}ᵀ",
                    rf"{_sub('dA', number - 1)} = {_sub('dZ', number)} {_sub('W', number)}^\top",
                    f"dA{number - 1}",
                    ((n, fan_out), (fan_out, fan_in)),
                    ("·",),
                    (n, fan_in),
                )
            )
            below = network.layers[number - 2].activation
            section.lines.append(_activation_delta(below, number - 1, n, fan_in))
    section.lines.append(
        prose(
            "X is data, not a parameter: dA0 = dZ1·W1ᵀ is never computed.",
            r"$X$ is data, not a parameter: $dA_{0} = dZ_{1} W_{1}^\top$ is never computed.",
        )
    )
    return section


def _symbols(text: str, table: dict, values: dict) -> tuple[str, str]:
    """`α = 0.1, β1 = 0.9, …` (plain and LaTeX) for the symbols that appear in `text`."""
    found = [
        (symbol, key, latex)
        for symbol, (key, latex) in table.items()
        if re.search(rf"(?<!\w){re.escape(symbol)}(?![\w])", text)
    ]
    plain = ", ".join(f"{symbol} = {values[key]:g}" for symbol, key, _ in found)
    math_ = ", ".join(f"{latex} = {_number_latex(values[key])}" for _, key, latex in found)
    return plain, math_


def _number_latex(value: float) -> str:
    """1e-08 -> 10^{-8}, 2.5e-05 -> 2.5 \\times 10^{-5}, 0.9 -> 0.9."""
    text = f"{value:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \times {power}"


def _rules(cls: type[Optimizer]) -> list[type[Optimizer]]:
    """The optimizer's own rule, then the rules it builds on (adamw: its decay, then Adam's step)."""
    chain = [c for c in cls.__mro__ if issubclass(c, Optimizer) and c.rule]
    return [c for i, c in enumerate(chain) if c.rule not in {d.rule for d in chain[:i]}]


def _update(network: MLP, config: Config, train_rows: int | None) -> Section:
    opt = config.optimizer
    cls = OPTIMIZERS[opt.name]
    values = {**opt.model_dump(exclude={"name", "schedule"}), "epochs": config.training.epochs}
    section = Section(f"Update: {opt.name}")
    names = ", ".join(p.name for p in network.parameters())
    section.lines.append(
        prose(
            f"for every parameter θ in {names}, with g = dθ from the backward pass:",
            f"for every parameter $\\theta$ in {names}, with $g = d\\theta$ from the backward pass:",
        )
    )
    if opt.weight_decay and not cls.decoupled_decay:
        decay = _number_latex(opt.weight_decay)
        section.lines.append(
            Line(
                "g = dW_l + λ W_l  (weights);  g = db_l  (biases)",
                r"g = dW_l + \lambda W_l \text{ (weights)};\ g = db_l \text{ (biases)}",
                note=f"weight decay: the gradient of L + λ/2 Σ_l ||W_l||², λ = {opt.weight_decay:g}",
                note_latex=rf"weight decay: the gradient of $L + \frac{{\lambda}}{{2}} \sum_l \lVert W_l \rVert^2$, $\lambda = {decay}$",
            )
        )
    rules = _rules(cls)
    rule_text = " ".join(c.rule for c in rules)
    plain, math_ = _symbols(rule_text, OPTIMIZER_SYMBOLS, values)
    for rule_cls in rules:
        section.lines.append(Line(rule_cls.rule, rule_cls.rule_latex))
    section.lines.append(prose(f"with {plain}", f"with ${math_}$"))
    per_batch = "one update per mini-batch" + (" (t counts them)" if "^t" in rule_text else "")
    if train_rows is not None:
        steps = math.ceil(train_rows / config.training.batch_size)
        per_batch += (
            f": {train_rows} training rows / batch_size {config.training.batch_size}"
            f" -> {_plural(steps, 'update')} per epoch, {_plural(config.training.epochs, 'epoch')}"
        )
    section.lines.append(prose(per_batch, per_batch.replace(" t ", " $t$ ")))
    schedule = SCHEDULES[opt.schedule.name]
    rule = schedule.__doc__.strip().splitlines()[0].rstrip(".")
    settings = {**opt.schedule.model_dump(), "epochs": config.training.epochs}
    extra, extra_latex = _symbols(rule, SCHEDULE_SYMBOLS, settings)
    section.lines.append(
        prose(
            f"learning rate at epoch e ({opt.schedule.name} schedule): {rule}"
            + (f", with {extra}" if extra else ""),
            f"learning rate at epoch $e$ ({opt.schedule.name} schedule): `{rule}`"
            + (f", with ${extra_latex}$" if extra else ""),
        )
    )
    return section


def _parameters(network: MLP) -> Section:
    parts = [f"{p.name} {_shape(p.value.shape)}" for p in network.parameters()]
    total = network.parameter_count()
    return Section(
        "Parameters",
        [
            prose(
                f"{' + '.join(parts)} = {total:,} parameters",
                f"{' + '.join(parts)} = **{total:,}**",
            )
        ],
    )


def explain(
    network: MLP,
    config: Config,
    batch: int,
    train_rows: int | None = None,
    origin: str = "",
    targets_standardized: bool = False,
) -> Explanation:
    """The equations `network` runs under `config` (loss, optimizer) for a batch of `batch` rows;
    `targets_standardized`: the regression targets Y are (y − μ)/σ (data.standardize_target)."""
    loss = LOSSES[config.loss]
    widths = "-".join(map(str, network.widths))
    title = f"{config.name or 'network'}: network {widths}, batch of n = {_plural(batch, 'row')}"
    intro = Section(
        "",
        [
            prose(f"from {origin}" if origin else "", f"from `{origin}`" if origin else ""),
            prose(
                "Shapes are rows×columns; (k,) is a bias vector, added to every row. "
                "X is the preprocessed input, one example per row.",
                r"Shapes are rows$\times$columns; $(k,)$ is a bias vector, added to every row. "
                r"$X$ is the preprocessed input, one example per row.",
            ),
        ],
    )
    intro.lines = [line for line in intro.lines if line.text]
    return Explanation(
        title,
        batch,
        [
            intro,
            _forward(network, batch),
            _loss(network, loss, batch, targets_standardized),
            _backward(network, loss, batch),
            _update(network, config, train_rows),
            _parameters(network),
        ],
    )


def explain_path(path: str | Path, batch: int | None = None, overrides=()) -> Explanation:
    """Explain a config file (network built with its seed) or a saved run folder."""
    subject = config_or_run(path, list(overrides))
    size = subject.config.training.batch_size
    # Training never sees more rows at once than the training split holds.
    n = batch or (min(size, subject.train_size) if subject.train_size else size)
    origin = str(path) if subject.run is None else subject.origin
    return explain(
        subject.network,
        subject.config,
        n,
        subject.train_size,
        origin=origin,
        targets_standardized=subject.target_std is not None,
    )


# ---------------------------------------------------------------------------- rendering


def _shape(shape: Shape) -> str:
    if shape == ():
        return "scalar"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "×".join(map(str, shape))


def shapes_text(line: Line) -> str:
    """`(4×2)·(2×2) + (2,) -> 4×2`: the operands, the operators, the result."""
    if line.shape is None:
        return ""
    if not line.operands:
        return _shape(line.shape)
    parts = [_wrapped(line.operands[0])]
    for op, operand in zip(line.ops, line.operands[1:], strict=True):
        parts.append(f"{op}{_wrapped(operand)}" if op == "·" else f" {op} {_wrapped(operand)}")
    joined = "".join(parts).replace(" , ", ", ")
    return f"{joined} -> {_shape(line.shape)}"


def _wrapped(shape: Shape) -> str:
    return _shape(shape) if len(shape) == 1 else f"({_shape(shape)})"


def render_text(explanation: Explanation) -> str:
    """Plain text: one equation per line, its shapes in a column, its formula underneath."""
    out = [explanation.title]
    for section in explanation.sections:
        if section.title:
            out += ["", section.title]
        shaped = [ln for ln in section.lines if ln.name]
        column = max((len(ln.text) for ln in shaped), default=0) + 3
        for line in section.lines:
            indent = "  " if section.title else ""
            if line.prose or not line.name:
                out.append(f"{indent}{line.text}")
            else:
                out.append(f"{indent}{line.text:<{column}}{shapes_text(line)}".rstrip())
            if line.note:
                out.append(f"{indent}    {line.note}")
    return "\n".join(out) + "\n"


def render_markdown(explanation: Explanation) -> str:
    """Markdown: equations as LaTeX math ($…$), shapes as code, one bullet per line."""
    out = [f"# bpcli explain: {explanation.title}"]
    for section in explanation.sections:
        out.append("")
        if section.title:
            out += [f"## {section.title}", ""]
        for line in section.lines:
            if line.prose:
                out.append(f"{'- ' if section.title else ''}{line.latex}")
                continue
            text = f"- ${line.latex}$"
            if line.shape is not None:
                text += f" — `{shapes_text(line)}`"
            if line.note_latex:
                text += f"; {line.note_latex}"
            out.append(text)
    return "\n".join(out) + "\n"
