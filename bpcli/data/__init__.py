"""Data: sources, file readers, preprocessing and splits."""
