"""Run folders: their files, checkpoints, saved runs and their data, and the training session."""
