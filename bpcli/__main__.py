"""`python -m bpcli`: the same as the `bpcli` entry point."""

from bpcli.commands import main

main()
