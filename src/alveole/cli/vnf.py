"""``alveole vnf …``: the VNF catalog and its fixture tables run through the kernel."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import command, console, print_json

app = typer.Typer(
    help="The VNF catalog: list VNFs, run their fixture tables in the kernel.", no_args_is_help=True
)


@app.command("list")
@command
def list_vnfs(json_out: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """The VNFs of the catalog: name, hooks, summary."""
    from ..vnf import catalog

    specs = catalog()
    rows = [
        {
            "name": s.name,
            "hooks": list(s.hooks),
            "summary": s.summary,
            "version": s.version,
            "config": list(s.config.model_fields),
            "maps": list(s.maps),
            "source": str(s.source),
        }
        for s in specs.values()
    ]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"alveole VNF catalog ({len(rows)})")
    for col in ("name", "hooks", "summary", "config"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], ", ".join(r["hooks"]), r["summary"], ", ".join(r["config"]))
    console.print(table)


@app.command("test")
@command
def test_vnf(
    name: str = typer.Argument(..., help="a VNF of the catalog (alveole vnf list)"),
    hook: list[str] = typer.Option([], "--hook", help="only this hook (xdp, tc); repeatable"),
    repeat: int = typer.Option(1000, help="test_run repetitions per row for the ns column"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Run NAME's fixture table through the kernel (BPF_PROG_TEST_RUN); exit 1 on any failure.

    Each row checks the verdict (from the per-verdict counters), the hook's
    action, the output bytes, and that the reference model agrees; a group of
    rows also checks the model's state against the VNF's maps.
    """
    from ..vnf import get, run_fixtures

    spec = get(name)
    bad_hooks = [h for h in hook if h not in spec.hooks]
    if bad_hooks:
        raise typer.BadParameter(
            f"{name} has no hook {', '.join(bad_hooks)} (hooks: {', '.join(spec.hooks)})"
        )
    results = run_fixtures(spec, hooks=hook or None, timing_repeat=repeat)  # type: ignore[arg-type]
    failed = [r for r in results if not r.ok]
    if json_out:
        print_json(
            {
                "vnf": name,
                "ok": not failed,
                "results": [
                    {
                        "fixture": r.description,
                        "hook": r.hook,
                        "expected": r.expected,
                        "got": r.got,
                        "ns": r.ns,
                        "ok": r.ok,
                        "problems": list(r.problems),
                    }
                    for r in results
                ],
            }
        )
    else:
        table = Table(title=f"{name}: fixture table through the kernel")
        for col, justify in (("fixture", "left"), ("hook", "left"), ("expected", "left"), ("got", "left")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        table.add_column("ns", justify="right")
        table.add_column("ok")
        for r in results:
            mark = "[green]ok[/]" if r.ok else "[red]FAIL[/]"
            got = r.got if r.ok else f"[red]{r.got}[/]"
            table.add_row(r.description, r.hook, r.expected, got, "" if r.ns is None else str(r.ns), mark)
        console.print(table)
        for r in failed:
            console.print(f"[red]{r.description} [{r.hook}]:[/] " + "; ".join(r.problems), highlight=False)
        summary = f"{len(results) - len(failed)}/{len(results)} rows passed"
        console.print(f"[green]{summary}[/]" if not failed else f"[red]{summary}[/]")
    if failed:
        raise typer.Exit(1)
