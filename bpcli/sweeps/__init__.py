"""Sweeps: many trainings of one config with varied settings, run side by side on the cores of one
machine or on a Ray cluster, ranked by one metric (`bpcli sweep`)."""
