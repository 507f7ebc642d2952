"""Training: the experiment, the loop, its guard against divergence and signals, diagnostics."""
