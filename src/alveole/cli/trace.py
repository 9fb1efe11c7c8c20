"""``alveole trace …``: host tracers from the course (execve, block I/O latency), done with libbpf."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from .common import command, console, print_json

app = typer.Typer(help="Host tracers: process executions, block I/O latency.", no_args_is_help=True)


@app.command()
@command
def execsnoop(
    duration: float = typer.Option(0, help="seconds to trace (0: until Ctrl-C)"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object per event"),
) -> None:
    """Print every execve() on the host (pid, ppid, uid, comm, filename)."""
    import json

    from ..tracers.execsnoop import ExecEvent, ExecSnoop

    def show(e: ExecEvent) -> None:
        if json_out:
            print(json.dumps(e.__dict__), flush=True)
        else:
            console.print(f"{e.pid:>7} {e.ppid:>7} {e.uid:>5} {e.comm:<16} {e.filename}", highlight=False)

    if not json_out:
        console.print(f"{'PID':>7} {'PPID':>7} {'UID':>5} {'COMM':<16} FILENAME")
    deadline = time.monotonic() + duration if duration else None
    with ExecSnoop(show) as snoop:
        try:
            while deadline is None or time.monotonic() < deadline:
                snoop.poll(100)
        except KeyboardInterrupt:
            pass


@app.command()
@command
def biolatency(
    interval: float = typer.Option(1.0, help="seconds between histograms"),
    count: int = typer.Option(1, help="histograms to print (0: until Ctrl-C)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Block I/O latency (issue to completion) as log2 histograms per operation."""
    from ..tracers.biolatency import BioLatency

    with BioLatency() as bio:
        n = 0
        try:
            while count == 0 or n < count:
                time.sleep(interval)
                n += 1
                hists = bio.histograms()
                if json_out:
                    print_json({op: {"total": h.total, "buckets_us": h.buckets()} for op, h in hists.items()})
                    continue
                for op, h in hists.items():
                    if not h.total:
                        continue
                    table = Table(title=f"{op}: {h.total} I/Os (cumulative)")
                    table.add_column("usecs", justify="right")
                    table.add_column("count", justify="right")
                    table.add_column("distribution")
                    peak = max(c for *_r, c in h.buckets())
                    for low, high, c in h.buckets():
                        table.add_row(f"{low} -> {high}", str(c), "*" * round(40 * c / peak))
                    console.print(table)
        except KeyboardInterrupt:
            pass
