"""The numeric core: activations, losses, initializers, the network, optimizers, schedules, metrics and
the gradient check. NumPy only: nothing here imports Typer, Rich, pydantic or the run folder."""
