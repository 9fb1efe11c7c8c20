"""``alveole lab …``: declarative topologies of network namespaces (see docs/lab.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from .common import command, console, err_console, print_json

app = typer.Typer(
    help="Lab topologies: namespaces, veth links, bridges, addresses, routes.", no_args_is_help=True
)


def _load(path: str) -> object:
    from ..lab import LabError, load_topology

    try:
        return load_topology(path)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "topology"
            lines.append(f"  {where}: {err['msg'].removeprefix('Value error, ')}")
        raise LabError(f"{path} is not a valid topology:\n" + "\n".join(lines)) from None
    except (OSError, ValueError) as e:
        raise LabError(f"cannot read {path}: {e}") from None


@app.command("up")
@command
def up(
    file: Path = typer.Argument(..., help="a topology YAML file (see examples/labs/)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Create a lab, or bring an existing lab in line with FILE (idempotent)."""
    from ..lab import Topology
    from ..lab import up as lab_up

    topo = _load(str(file))
    assert isinstance(topo, Topology)
    record = lab_up(topo)
    if json_out:
        print_json(
            {"name": topo.name, "state": record.state, "namespaces": {h: topo.netns(h) for h in topo.hosts}}
        )
        return
    console.print(
        f"lab [bold]{topo.name}[/] is up: " + ", ".join(f"{h} → {topo.netns(h)}" for h in topo.hosts)
    )


@app.command("down")
@command
def down(name: str = typer.Argument(..., help="the lab's name")) -> None:
    """Remove everything lab NAME created (also after a crash or a failed `up`)."""
    from ..lab import down as lab_down

    removed = lab_down(name)
    console.print(f"lab [bold]{name}[/] removed ({len(removed)} resources)")


@app.command("show")
@command
def show(
    name: str = typer.Argument(None, help="one lab (default: all)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show the labs this host has, with their hosts, interfaces and addresses."""
    from ..lab import status

    labs = status(name)
    if json_out:
        print_json(
            [
                {
                    "name": s.name,
                    "state": s.state,
                    "complete": s.complete,
                    "description": s.description,
                    "hosts": s.hosts,
                    "resources": [
                        {"kind": r.kind, "netns": r.netns, "name": r.name, "exists": ok}
                        for r, ok in s.resources
                    ],
                }
                for s in labs
            ]
        )
        return
    if not labs:
        console.print("no labs")
        return
    for s in labs:
        state = "[green]up[/]" if s.complete else f"[yellow]{s.state}, incomplete[/]"
        table = Table(title=f"lab {s.name} ({state})" + (f": {s.description}" if s.description else ""))
        for col in ("host", "interface", "addresses"):
            table.add_column(col)
        for host, ifaces in s.hosts.items():
            if not ifaces:
                table.add_row(host, "[dim]-[/]", "")
            for i, (ifname, addrs) in enumerate(sorted(ifaces.items())):
                table.add_row(host if i == 0 else "", ifname, ", ".join(addrs))
        console.print(table)
        missing = [r for r, ok in s.resources if not ok]
        if missing:
            err_console.print(
                f"[yellow]missing: {', '.join(r.key for r in missing)}[/] "
                f"(`alveole lab down {s.name}` cleans up)"
            )
