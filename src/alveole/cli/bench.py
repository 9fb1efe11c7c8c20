"""``alveole bench …``: benchmarks printed as figures and ratios measured in the same run."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from typing import Any

    from rich.progress import Progress, TaskID


def _warn_if_disturbed(results: dict[str, Any]) -> None:
    from ..bench.render import disturbance

    if loads := disturbance(results):
        console.print(
            f"[yellow]other processes kept the idle CPU busy during {len(loads)} runs "
            f"(up to {max(loads):.0%}): figures not to be quoted[/]"
        )


def _progress(total: int, label: str) -> tuple[Progress, TaskID]:
    from ..bench.render import progress_bar
    from .common import err_console

    return progress_bar(total, label, err_console)  # on stderr: --json output stays clean


@app.command("throughput")
@command
def throughput(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    quick: bool = typer.Option(False, "--quick", help="one short run per row (CI)"),
    rows: list[str] = typer.Option(None, "--row", "-r", help="rows to run (default: all); see --list"),
    list_rows: bool = typer.Option(False, "--list", help="list the rows and exit"),
    runs: int = typer.Option(None, help="runs per row (median; default 3, quick 1)"),
    duration: float = typer.Option(None, help="seconds per run (default 1, quick 0.15)"),
    flows: int = typer.Option(256, help="distinct flows in the offered traffic"),
    size: int = typer.Option(64, help="frame size on the wire, FCS included"),
    cpus: int = typer.Option(1, help="generator CPUs (one veth queue each)"),
    napi: str = typer.Option("shared", help="shared: DUT in the generator's softirq; threaded: own CPU"),
) -> None:
    """Mpps processed by each device under test for the same offered traffic."""
    from dataclasses import replace

    from ..bench.render import ratio_table, throughput_table
    from ..bench.throughput import PENDING, ROWS, Settings, measure_throughput

    if list_rows:
        for name, row in ROWS.items():
            console.print(f"[bold]{name}[/]: {row.description}")
        for name, what in PENDING.items():
            console.print(f"[dim]{name}: pending, needs {what}[/]")
        return
    settings = Settings.quick() if quick else Settings()
    settings = replace(settings, flows=flows, size=size, cpus=cpus, napi=napi)
    if runs is not None:
        settings = replace(settings, runs=runs)
    if duration is not None:
        settings = replace(settings, duration=duration)
    names = rows or [*ROWS, *PENDING]
    progress, task = _progress(len(names), "throughput")
    with progress:
        result = measure_throughput(
            names, settings, on_row=lambda name, r, reason: progress.update(task, advance=1, description=name)
        )
    if json_out:
        print_json(result)
        return
    console.print(throughput_table(result))
    if result["ratios"]:
        console.print(ratio_table(result))
    _warn_if_disturbed({"throughput": result})


@app.command("scaling")
@command
def scaling(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    quick: bool = typer.Option(False, "--quick", help="10 and 100 rules, one short run each (CI)"),
    peers: list[str] = typer.Option(None, "--peer", "-p", help="peers (default: all)"),
    rules: list[int] = typer.Option(None, "--rules", help="rule counts (default 10 … 100000)"),
    runs: int = typer.Option(None, help="runs per point (median; default 3, quick 1)"),
    duration: float = typer.Option(None, help="seconds per run (default 1, quick 0.15)"),
) -> None:
    """Mpps and ns/packet against the number of rules (iptables, nftables, nftables sets, firewall)."""
    from dataclasses import replace

    from ..bench.render import scaling_table
    from ..bench.scaling import PENDING_SERIES, QUICK_RULE_COUNTS, RULE_COUNTS, SERIES, measure_scaling
    from ..bench.throughput import Settings

    settings = Settings.quick() if quick else Settings()
    if runs is not None:
        settings = replace(settings, runs=runs)
    if duration is not None:
        settings = replace(settings, duration=duration)
    counts = rules or list(QUICK_RULE_COUNTS if quick else RULE_COUNTS)
    names = peers or [*SERIES, *PENDING_SERIES]
    progress, task = _progress(len(names) * len(counts), "scaling")
    with progress:
        result = measure_scaling(
            names,
            counts,
            settings,
            on_point=lambda name, n, mpps, reason: progress.update(
                task, advance=1, description=f"{name} {n}"
            ),
        )
    if json_out:
        print_json(result)
        return
    console.print(scaling_table(result))
    _warn_if_disturbed({"scaling": result})


@app.command("startup")
@command
def startup(
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    quick: bool = typer.Option(False, "--quick", help="3 samples (CI)"),
    samples: int = typer.Option(None, help="samples per phase (median; default 20)"),
    vnf: str = typer.Option("noop", help="VNF to start: noop (vnf_noop), selfcheck, or a catalog VNF"),
) -> None:
    """VNF start latency: cold, warm and first packet, into a live chain and by a fresh XDP attach."""
    from ..bench.render import startup_table, startup_target
    from ..bench.startup import measure_startup, subject_for

    n = samples or (3 if quick else 20)
    progress, task = _progress(5 * n, "startup")
    with progress:
        result = measure_startup(
            subject_for(vnf),
            samples=n,
            on_sample=lambda phase, i, ms: progress.update(task, advance=1, description=phase),
        )
    if json_out:
        print_json(result)
        return
    console.print(startup_table(result))
    if target := startup_target(result):
        console.print(("[green]" if result.get("target_met") else "[red]") + target + "[/]")


@app.command("all")
@command
def all_benchmarks(
    quick: bool = typer.Option(False, "--quick", help="small counts, single runs (CI)"),
    out: str = typer.Option("benchmarks/results", help="results root: <out>/<date>/"),
    docs: str = typer.Option("docs/benchmarks.md", help="doc whose results section is refreshed (full runs)"),
    skip: list[str] = typer.Option([], "--skip", help="floor, throughput, scaling, startup or pktcost"),
) -> None:
    """Every benchmark: results.json, results.md and PNG plots under <out>/<date>/."""
    from ..bench.report import plan_steps, run_all, update_docs

    progress, task = _progress(plan_steps(quick), "bench all")
    with progress:
        outdir = run_all(
            out, quick=quick, skip=skip, step=lambda what: progress.update(task, advance=1, description=what)
        )
    console.print(f"results written to [bold]{outdir}[/] (results.json, results.md, plots)")
    if not quick and update_docs(docs, outdir):
        console.print(f"{docs} updated")
