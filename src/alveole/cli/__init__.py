"""The ``alveole`` command line (Typer + Rich)."""
