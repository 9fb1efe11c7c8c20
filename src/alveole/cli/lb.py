"""``alveole lb …``: Maglev load balancers: deploy, show, change backends, run health checks."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from .common import command, console, err_console, print_json

app = typer.Typer(
    help="Maglev L4 load balancers (XDP): VIPs, backends with health and flows, weights.",
    no_args_is_help=True,
)
backend_app = typer.Typer(
    help="Add, remove or reweight a VIP's backends (applied as map diffs).", no_args_is_help=True
)
app.add_typer(backend_app, name="backend")

JsonOpt = typer.Option(False, "--json", help="print JSON")


def _vip_index(config: Any, text: str) -> int:
    """The position of VIP ``ADDRESS:PORT[/PROTO]`` (IPv6 in brackets) in the config."""
    head, _, proto = text.partition("/")
    host, sep, port = head.rpartition(":")
    if not sep or not port.isdigit():
        raise typer.BadParameter(f"a VIP is ADDRESS:PORT[/tcp|udp], not {text!r}")
    addr = ipaddress.ip_address(host.strip("[]"))
    for i, v in enumerate(config.vips):
        if v.address == addr and v.port == int(port) and v.proto == (proto or "tcp"):
            return i
    known = ", ".join(str(v) for v in config.vips) or "none"
    raise LookupError(f"no VIP {text} (VIPs: {known})")


def _with_backends(config: Any, i: int, backends: list[Any]) -> Any:
    vips = list(config.vips)
    vips[i] = vips[i].model_copy(update={"backends": tuple(backends)})
    return type(config).model_validate(
        {**config.model_dump(mode="json"), "vips": [v.model_dump(mode="json") for v in vips]}
    )


def _find(backends: list[Any], address: str, port: int | None) -> int:
    addr = ipaddress.ip_address(address)
    for j, b in enumerate(backends):
        if b.address == addr and (port is None or b.port == port):
            return j
    raise LookupError(f"no backend {address}{'' if port is None else f' port {port}'}")


def _change(name: str, fn: Any) -> None:
    from ..lb.deploy import open_deployment

    with open_deployment(name) as dep:
        new = fn(dep.lb.config)
        report = dep.lb.apply(new)
        dep.save()
    console.print(
        f"applied: {report.backends_added} backend entries written, {report.backends_removed} removed, "
        f"{report.ring_slots} ring slots changed ({report.seconds * 1000:.0f} ms)"
    )


@app.command("up")
@command
def up_cmd(
    name: str = typer.Argument(..., help="a name for this load balancer"),
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML config (LbConfig fields)"),
    interfaces: list[str] = typer.Option(..., "--iface", "-i", help="interfaces to attach to (repeat)"),
    netns: str = typer.Option(None, "--netns", help="network namespace of the interfaces"),
    mode: str = typer.Option("native", help="XDP mode: native, generic or auto"),
) -> None:
    """Load the lb VNF, attach it (XDP) to every interface given, pin it."""
    from ..lb.deploy import up
    from ..vnf import get

    cfg = get("lb").validate(yaml.safe_load(config.read_text()) or {})
    with up(name, cfg, interfaces, netns, mode=mode) as dep:
        where = f"{', '.join(dep.interfaces)} ({netns or 'host'})"
        console.print(f"[green]lb {dep.name}[/] on {where}, {len(cfg.vips)} VIPs")


@app.command("down")
@command
def down_cmd(name: str = typer.Argument(...)) -> None:
    """Detach and remove a load balancer."""
    from ..lb.deploy import down

    down(name)
    console.print(f"lb {name} removed")


@app.command("list")
@command
def list_cmd(json_out: bool = JsonOpt) -> None:
    """Deployed load balancers."""
    from ..lb.deploy import list_deployments

    names = list_deployments()
    if json_out:
        print_json(names)
    else:
        for n in names:
            console.print(n)


@app.command("show")
@command
def show(name: str = typer.Argument(...), json_out: bool = JsonOpt) -> None:
    """VIPs, backends (state, weight, flows pinned now, flows given) and packet reasons."""
    from ..lb.deploy import open_deployment
    from ..vnf.lb.state import reason_counts

    with open_deployment(name) as dep:
        vips = dep.lb.describe()
        reasons = {
            r.name.lower(): {"packets": p, "bytes": b} for r, (p, b) in reason_counts(dep.maps).items()
        }
    data = {"name": name, "netns": dep.netns, "interfaces": dep.interfaces, "vips": vips, "reasons": reasons}
    if json_out:
        print_json(data)
        return
    console.print(f"[bold]lb {name}[/] on {', '.join(dep.interfaces)} ({dep.netns or 'host'})")
    for v in vips:
        table = Table(title=f"{v['vip']} ({v['mode']})")
        for col in ("backend", "port", "weight", "state", "flows now", "flows given"):
            table.add_column(col)
        style = {"up": "green", "down": "red", "drain": "yellow"}
        for b in v["backends"]:
            state = f"[{style[b['state']]}]{b['state']}[/]"
            table.add_row(
                b["address"], str(b["port"]), str(b["weight"]), state, str(b["active_flows"]), str(b["flows"])
            )
        console.print(table)
    console.print("packets: " + ", ".join(f"{k} {v['packets']}" for k, v in reasons.items() if v["packets"]))


@backend_app.command("add")
@command
def backend_add(
    name: str = typer.Argument(...),
    vip: str = typer.Argument(..., help="ADDRESS:PORT\\[/PROTO]"),
    address: str = typer.Argument(...),
    port: int = typer.Option(None, help="full-NAT: the backend's port (default: the VIP's)"),
    weight: int = typer.Option(1, help="share of new flows"),
) -> None:
    """Add a backend to a VIP."""
    from ..vnf.lb.config import Backend

    def fn(cfg: Any) -> Any:
        i = _vip_index(cfg, vip)
        return _with_backends(
            cfg, i, [*cfg.vips[i].backends, Backend(address=address, port=port, weight=weight)]
        )

    _change(name, fn)


@backend_app.command("remove")
@command
def backend_remove(
    name: str = typer.Argument(...),
    vip: str = typer.Argument(..., help="ADDRESS:PORT\\[/PROTO]"),
    address: str = typer.Argument(...),
    port: int = typer.Option(None, help="which of the address's backends"),
) -> None:
    """Remove a backend: its flows go to other backends on their next packet."""

    def fn(cfg: Any) -> Any:
        i = _vip_index(cfg, vip)
        backends = list(cfg.vips[i].backends)
        del backends[_find(backends, address, port)]
        return _with_backends(cfg, i, backends)

    _change(name, fn)


@backend_app.command("weight")
@command
def backend_weight(
    name: str = typer.Argument(...),
    vip: str = typer.Argument(..., help="ADDRESS:PORT\\[/PROTO]"),
    address: str = typer.Argument(...),
    weight: int = typer.Argument(..., help="new weight; 0 drains (existing flows stay)"),
    port: int = typer.Option(None, help="which of the address's backends"),
) -> None:
    """Change a backend's weight."""

    def fn(cfg: Any) -> Any:
        i = _vip_index(cfg, vip)
        backends = list(cfg.vips[i].backends)
        j = _find(backends, address, port)
        backends[j] = backends[j].model_copy(update={"weight": weight})
        return _with_backends(cfg, i, backends)

    _change(name, fn)


@app.command("health")
@command
def health(
    name: str = typer.Argument(...),
    once: bool = typer.Option(False, "--once", help="probe every backend once, apply, print, exit"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: until interrupted)"),
    json_out: bool = JsonOpt,
) -> None:
    """Run the health checks of a load balancer's VIPs (from its namespace), in the foreground."""
    from ..lb.deploy import open_deployment
    from ..lb.health import HealthChecker

    with open_deployment(name) as dep:
        checker = HealthChecker(dep.lb, dep.netns, on_change=lambda h: _transition(dep, h))
        try:
            if once:
                checker.run_once(all_due=True)
            else:
                end = time.monotonic() + duration if duration else None
                checker.start()
                try:
                    while end is None or time.monotonic() < end:
                        time.sleep(0.2)
                except KeyboardInterrupt:
                    pass
        finally:
            checker.close()
        dep.save()
        rows = [
            {
                "vip": h.target.vip,
                "backend": h.target.address,
                "port": h.target.port,
                "up": h.up,
                "last": h.last,
            }
            for h in checker.health.values()
        ]
    if json_out:
        print_json(rows)
        return
    for r in rows:
        state = "[green]up[/]" if r["up"] else "[red]down[/]"
        console.print(f"{r['vip']} {r['backend']}:{r['port']} {state} ({r['last']})")


def _transition(dep: Any, h: Any) -> None:
    dep.save()
    state = "back in" if h.up else "taken out"
    err_console.print(
        f"{time.strftime('%H:%M:%S')} {h.target.vip} {h.target.address}:{h.target.port} {state} ({h.last})"
    )


@app.command("maglev")
@command
def maglev_cmd(
    backends: list[str] = typer.Argument(..., help="NAME[=WEIGHT] (the name hashes into the permutation)"),
    size: int = typer.Option(65537, help="table size (a prime)"),
    remove: str = typer.Option(None, help="also show what removing this backend moves"),
    json_out: bool = JsonOpt,
) -> None:
    """Build a Maglev table offline: slots per backend, and the disruption of a removal."""
    from ..vnf.lb import maglev

    pairs = []
    for item in backends:
        n, _, w = item.partition("=")
        pairs.append((n.encode(), int(w) if w else 1))
    t0 = time.perf_counter()
    table = maglev.build(tuple(pairs), size)
    ms = (time.perf_counter() - t0) * 1000
    shares = maglev.shares(table, len(pairs))
    data: dict[str, Any] = {
        "size": size,
        "build_ms": round(ms, 1),
        "backends": [
            {"name": n.decode(), "weight": w, "slots": s} for (n, w), s in zip(pairs, shares, strict=True)
        ],
    }
    if remove is not None:
        rest = tuple(p for p in pairs if p[0] != remove.encode())
        if len(rest) == len(pairs):
            raise LookupError(f"no backend {remove!r}")
        old = [pairs[i][0] for i in table]
        new = [rest[i][0] if i != maglev.EMPTY else None for i in maglev.build(rest, size)]
        others = [i for i, n in enumerate(old) if n != remove.encode()]
        moved = sum(1 for i in others if old[i] != new[i])
        data["removal"] = {"backend": remove, "other_slots": len(others), "moved": moved}
    if json_out:
        print_json(data)
        return
    table_out = Table(title=f"Maglev table, {size} slots ({ms:.0f} ms)")
    for col in ("backend", "weight", "slots", "share"):
        table_out.add_column(col)
    for b in data["backends"]:
        table_out.add_row(b["name"], str(b["weight"]), str(b["slots"]), f"{100 * b['slots'] / size:.2f}%")
    console.print(table_out)
    if "removal" in data:
        r = data["removal"]
        console.print(
            f"removing {r['backend']}: {r['moved']} of the other backends' {r['other_slots']} slots move "
            f"({100 * r['moved'] / max(r['other_slots'], 1):.3f}%)"
        )
