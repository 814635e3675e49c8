"""Pieces of the `pasarela` command: what every subcommand shares, and command groups."""
