"""``alveole bench …``: benchmarks printed as figures and ratios measured in the same run."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import command, console, print_json

app = typer.Typer(
    help="Benchmarks (figures and ratios against baselines measured in the same run).", no_args_is_help=True
)


@app.command("floor")
@command
def floor(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    entries: int = typer.Option(100_000, help="entries inserted per map"),
    repeat: int = typer.Option(1 << 20, help="test_run repetitions per measurement"),
    runs: int = typer.Option(5, help="measurements per figure (median)"),
) -> None:
    """Kernel-timed ns/packet of an XDP no-op and a per-CPU counter; batch insert rates."""
    from ..bench.floor import measure_floor

    result = measure_floor(entries=entries, repeat=repeat, runs=runs)
    if json_out:
        print_json(result)
        return
    table = Table(title="alveole floor")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("XDP no-op", f"{result['noop_ns']:.1f} ns/packet")
    table.add_row("XDP per-CPU counter", f"{result['counter_ns']:.1f} ns/packet")
    table.add_row(f"hash batch insert ({entries})", f"{result['hash_batch_per_s']:,} entries/s")
    table.add_row(f"LPM batch insert ({entries})", f"{result['lpm_batch_per_s']:,} entries/s")
    table.add_row("hash batch, encoded from Python", f"{result['hash_batch_encoded_per_s']:,} entries/s")
    table.add_row("LPM batch, encoded from Python", f"{result['lpm_batch_encoded_per_s']:,} entries/s")
    console.print(table)
