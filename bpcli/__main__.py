"""`python -m bpcli`: the same as the `bpcli` entry point."""

from bpcli.cli import main

main()
