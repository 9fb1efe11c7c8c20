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


@app.command("pktcost")
@command
def pktcost(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    only: list[str] = typer.Option([], "--only", help="rows (or VNF name prefixes) to measure; repeatable"),
    packets: int = typer.Option(1 << 20, help="packets per measurement (spread over each row's frames)"),
    runs: int = typer.Option(5, help="measurements per row (median)"),
) -> None:
    """Kernel-timed ns/packet of each catalog VNF (its registered rows), with the no-op floor."""
    from ..bench.pktcost import measure_pktcost

    result = measure_pktcost(only, total=packets, runs=runs)
    if json_out:
        print_json(result)
        return
    table = Table(
        title=f"per-packet cost (XDP floor {result['floor_ns']:.1f} ns, TC {result['floor_tc_ns']:.1f} ns)"
    )
    for col in ("row", "hook", "ns/packet", "over floor", "frames", "setup"):
        table.add_column(col, justify="right" if col in ("ns/packet", "over floor", "frames") else "left")
    for r in result["results"]:
        table.add_row(
            r["name"], r["hook"], f"{r['ns']:.1f}", f"+{r['over_floor_ns']:.1f}", str(r["frames"]), r["note"]
        )
    console.print(table)


@app.command("chain")
@command
def chain(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    repeat: int = typer.Option(1 << 20, help="test_run repetitions per measurement"),
    runs: int = typer.Option(5, help="measurements per figure (median)"),
) -> None:
    """ns/packet of chains of 0, 1, 3, 5 no-op VNFs (and catalog VNFs chained vs alone)."""
    from ..bench.chain import measure_chain

    result = measure_chain(repeat=repeat, runs=runs)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"chain cost (floor {result['floor_ns']:.1f} ns/packet)")
    table.add_column("chain")
    table.add_column("ns/packet", justify="right")
    table.add_column("over floor", justify="right")
    for row in result["results"]:
        table.add_row(row["name"], f"{row['ns']:.1f}", f"+{row['ns'] - result['floor_ns']:.1f}")
    console.print(table)
    console.print(f"per hop: {result['per_hop_ns']:.2f} ns (slope from 1 to 5 hops)")


@app.command("update")
@command
def update(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    updates: int = typer.Option(100, help="live updates of the middle VNF"),
    rate: float = typer.Option(1_000_000, help="offered frames per second"),
) -> None:
    """Live-update the middle VNF of a 3-VNF chain under generated traffic; count what is lost."""
    from ..bench.chain import measure_update

    result = measure_update(updates=updates, rate=rate)
    if json_out:
        print_json(result)
        return
    table = Table(title="live update under load")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else f"{value:,}")
    console.print(table)


# --- data-path benchmarks: throughput, scaling, startup, all (alveole.bench.throughput & co) ---
