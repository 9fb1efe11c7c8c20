"""Entry point of the ``alveole`` command."""

from __future__ import annotations

import typer
from rich.table import Table

from .. import __version__
from . import bench, chain, conntrack, demo, lab, lb, ops, serve, trace, vnf, vnfd
from .common import command, console, print_json
from .ns import app as ns_app

app = typer.Typer(
    help="alveole: network functions as eBPF programs in the Linux kernel, driven from Python.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(bench.app, name="bench")
app.add_typer(ns_app, name="ns")
app.add_typer(ops.app, name="ops")
app.add_typer(vnfd.app, name="vnfd")
app.add_typer(vnfd.nsd_app, name="nsd")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.add_typer(lab.app, name="lab")
app.add_typer(lb.app, name="lb")
app.add_typer(chain.app, name="chain")
app.add_typer(conntrack.app, name="conntrack")
app.add_typer(trace.app, name="trace")
app.add_typer(vnf.app, name="vnf")

_STATUS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}


@app.command()
def version() -> None:
    """Print alveole's version."""
    console.print(f"alveole {__version__}")


@app.command()
@command
def doctor(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Check that this host can run alveole; exits non-zero when something required is missing."""
    from ..doctor import run_checks

    checks = run_checks()
    failed = [c for c in checks if c.status == "fail" and c.required]
    if json_out:
        print_json([c.__dict__ for c in checks])
    else:
        table = Table(title="alveole doctor")
        for col in ("check", "status", "detail", "what to do"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.name, _STATUS[c.status], c.detail, c.fix if c.status != "ok" else "")
        console.print(table)
        if failed:
            console.print(f"[red]{len(failed)} required check(s) failed.[/]")
        else:
            console.print("[green]This host can run alveole.[/]")
    if failed:
        raise typer.Exit(1)


@app.command()
@command
def selfcheck() -> None:
    """Compile a small VNF, load it into the kernel and run packets through it."""
    from ..selfcheck import run_selfcheck

    console.print(
        "Compiling [bold]selfcheck.bpf.c[/] (drop UDP to port 9, pass the rest), loading it "
        "into the kernel and running packets through BPF_PROG_TEST_RUN…"
    )
    r = run_selfcheck()
    console.print(
        f"compile: {r.compile_ms:.1f} ms ({'cache hit' if r.compile_cached else 'clang'}), "
        f"load + verify + JIT: {r.load_ms:.1f} ms, program id {r.program_id}, tag {r.program_tag}, "
        f"{r.verified_insns} instructions verified"
    )
    table = Table(title="packets through the kernel")
    for col in ("packet", "expected", "verdict", "ns/packet"):
        table.add_column(col)
    for label, expected, got, ns in r.rows:
        style = "green" if expected == got else "red"
        table.add_row(label, expected, f"[{style}]{got}[/]", str(ns))
    console.print(table)
    console.print(f"per-CPU counters summed: {r.counters}")
    if not r.ok:
        console.print("[red]self-check failed[/]")
        raise typer.Exit(1)
    console.print("[green]self-check passed[/]")


@app.command("compile")
@command
def compile_cmd(
    source: str = typer.Argument(..., help="a .bpf.c file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Compile a BPF C source (through the object cache) and print where the object is."""
    from ..toolchain import compile_bpf

    c = compile_bpf(source)
    data = {
        "object": str(c.path),
        "cached": c.cached,
        "ms": round(c.seconds * 1000, 2),
        "warnings": [str(w) for w in c.warnings],
    }
    if json_out:
        print_json(data)
    else:
        for w in c.warnings:
            console.print(f"[yellow]{w}[/]")
        console.print(f"{c.path} ({'cache hit' if c.cached else 'compiled'}, {data['ms']} ms)")


if __name__ == "__main__":
    app()
