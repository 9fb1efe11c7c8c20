"""``alveole conntrack …``: the connection-tracking tables of running VNFs (shown, collected).

A table is found by its pins: ``--pin DIR`` (a directory holding ``alv_ct4`` and ``alv_ct6``,
e.g. a chain member's ``maps/`` directory, or one of those pins), or ``--chain INTERFACE`` with
``--hook``/``--netns`` (every member of that chain that tracks connections; ``--member`` to
pick one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..bpf import Map
from ..conntrack import TABLES, Pressure, connections, open_pinned, pressure, top
from .common import command, console, print_json

app = typer.Typer(
    help="Connection tracking tables of VNFs (stateful firewall, NAT, load balancer).", no_args_is_help=True
)

PinOpt = typer.Option(None, "--pin", help="directory of a table's pinned maps (or its alv_ct4 pin)")
ChainOpt = typer.Option(None, "--chain", help="the interface of a chain whose members track connections")
HookOpt = typer.Option("xdp", "--hook", help="the chain's hook: xdp, tc-ingress or tc-egress")
NetnsOpt = typer.Option(None, "--netns", help="network namespace of the chain's interface")
MemberOpt = typer.Option(None, "--member", help="only this chain member")
JsonOpt = typer.Option(False, "--json", help="print JSON")


def _tables(
    pin: Path | None, chain: str | None, hook: str, netns: str | None, member: str | None
) -> list[tuple[str, Path]]:
    """(label, maps directory) of every table selected."""
    if (pin is None) == (chain is None):
        raise typer.BadParameter("give either --pin or --chain")
    if pin is not None:
        d = pin.parent if pin.name in TABLES and pin.is_file() else pin
        if not all((d / n).exists() for n in TABLES):
            raise FileNotFoundError(f"no conntrack table ({', '.join(TABLES)}) pinned in {d}")
        return [(str(d), d)]
    from ..datapath import ChainId, ChainPaths

    paths = ChainPaths(ChainId(chain, hook, netns))  # type: ignore[arg-type]
    found = []
    for name in paths.pinned_members():
        if member is not None and name != member:
            continue
        d = paths.member_dir(name) / "maps"
        if all((d / n).exists() for n in TABLES):
            found.append((f"{paths.cid} member {name}", d))
    if not found:
        what = f"member {member!r} of " if member else "a member of "
        raise FileNotFoundError(f"no {what}chain {paths.cid} tracks connections")
    return found


def _close(maps: dict[str, Map]) -> None:
    for m in maps.values():
        m.close()


def _pressure_line(p: Pressure) -> str:
    return (
        f"{p.entries} flows in 2 x {p.max_entries} entries ({p.fill:.1%}), created {p.created}, "
        f"evicted (inferred) {p.evicted}, expired {p.expired}, gc deleted {p.gc_deleted} ({p.gc_runs} runs), "
        f"insert failures {p.create_failed}, lookups {p.lookups} (misses {p.misses}), related {p.related}"
    )


@app.command()
@command
def show(
    pin: Path | None = PinOpt,
    chain: str | None = ChainOpt,
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
    member: str | None = MemberOpt,
    limit: int = typer.Option(50, "--limit", "-n", help="flows shown per table (0: all)"),
    by: str = typer.Option("bytes", "--by", help="order: bytes, packets, idle, age"),
    proto: str | None = typer.Option(None, "--proto", help="only tcp, udp, icmp, icmpv6 or a number"),
    json_out: bool = JsonOpt,
) -> None:
    """Tracked flows (initiator -> responder, state, idle time, counters, NAT binding) and table pressure."""
    if by not in ("bytes", "packets", "idle", "age"):
        raise typer.BadParameter("--by is bytes, packets, idle or age")
    out: list[dict[str, Any]] = []
    for label, d in _tables(pin, chain, hook, netns, member):
        maps = open_pinned(d)
        try:
            conns = connections(maps)
            p = pressure(maps, entries=len(conns))
        finally:
            _close(maps)
        if proto is not None:
            conns = [c for c in conns if c.protocol == proto or str(c.proto) == proto]
        shown = top(conns, limit or len(conns), by=by)  # type: ignore[arg-type]
        out.append({"table": label, "pressure": p.as_json(), "flows": len(conns), "shown": shown})
    if json_out:
        print_json([{**t, "shown": [c.as_json() for c in t["shown"]]} for t in out])
        return
    for t in out:
        console.print(f"[bold]{t['table']}[/]")
        console.print(_pressure_line(Pressure(**{k: v for k, v in t["pressure"].items() if k != "fill"})))
        table = Table()
        for col in ("proto", "initiator", "responder", "state", "idle s", "packets o/r", "bytes o/r", "nat"):
            table.add_column(col)
        for c in t["shown"]:
            ep = lambda a, p: f"[{a}]:{p}" if a.version == 6 else f"{a}:{p}"  # noqa: E731
            nat = f"{c.nat_kind.name.lower()} {ep(c.nat_addr, c.nat_port)}" if c.nat_addr else ""
            table.add_row(
                c.protocol,
                ep(c.src, c.sport),
                ep(c.dst, c.dport),
                c.state.label,
                f"{c.idle_s:.1f}",
                f"{c.packets[0]}/{c.packets[1]}",
                f"{c.bytes[0]}/{c.bytes[1]}",
                nat,
            )
        console.print(table)
        if len(t["shown"]) < t["flows"]:
            console.print(f"[dim]{len(t['shown'])} of {t['flows']} flows shown (--limit)[/]")


@app.command()
@command
def gc(
    pin: Path | None = PinOpt,
    chain: str | None = ChainOpt,
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
    member: str | None = MemberOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Delete dead flows now (a NAT's reverse bindings go with them)."""
    from ..agent import collect_table, open_table

    results = []
    for label, d in _tables(pin, chain, hook, netns, member):
        with open_table(d) as (maps, nat):
            r = collect_table(maps, nat)
        results.append({"table": label, "scanned": r.scanned, "deleted": r.deleted, "seconds": r.seconds})
    if json_out:
        print_json(results)
        return
    for r in results:
        console.print(f"{r['table']}: {r['deleted']} of {r['scanned']} flows deleted")
