"""``alveole demo``: the main job end to end on a lab, in plain words (what ``make demo`` runs)."""

from __future__ import annotations

import dataclasses

import typer

from .common import command, console, print_json


@command
def demo(
    keep: bool = typer.Option(False, "--keep", help="leave the lab and the network service running"),
    down: bool = typer.Option(False, "--down", help="only remove what a previous demo left"),
    rate: float = typer.Option(200_000, help="frames/s of the generated streams"),
    json_out: bool = typer.Option(False, "--json", help="also print the measured figures as JSON"),
) -> None:
    """Build a lab, deploy firewall -> ddos guard -> flow monitor, send traffic, change it live, tear down."""
    from .. import demo as _demo

    if down:
        _demo.teardown(lambda s: console.print(f"  {s}", highlight=False))
        console.print("nothing of the demo is left")
        return
    result = _demo.run(console, keep=keep, rate=rate)
    if json_out:
        print_json(dataclasses.asdict(result))
