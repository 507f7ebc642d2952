"""bpcli: train multilayer perceptrons from YAML with hand-written NumPy backpropagation."""

__version__ = "0.1.0"
