"""``alveole chain …``: service chains on this host's interfaces (pinned; they outlive the command)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from ..datapath import ChainId, Datapath, MemberSpec
from .common import command, console, print_json

app = typer.Typer(
    help="Service chains of VNFs on XDP and TC hooks (changed atomically, updated live).",
    no_args_is_help=True,
)

HookOpt = typer.Option("xdp", "--hook", help="xdp, tc-ingress or tc-egress")
NetnsOpt = typer.Option(None, "--netns", help="network namespace of the interface")
JsonOpt = typer.Option(False, "--json", help="print JSON")


def _cid(interface: str, hook: str, netns: str | None) -> ChainId:
    return ChainId(interface, hook, netns)


def _datapath() -> Datapath:
    return Datapath()


def _config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold a mapping of config fields")
    return data


def member(
    vnf: str,
    config: dict[str, Any] | None = None,
    source: Path | None = None,
    version: str | None = None,
    group: str | None = None,
) -> MemberSpec:
    """A catalog VNF by name, or any .bpf.c by path; ``source``/``version`` make a new version of it."""
    from ..datapath.catalog import member_for, member_from_source

    if vnf.endswith(".bpf.c") or "/" in vnf:
        return member_from_source(vnf, version=version or "0", globals=config)
    spec = member_for(vnf, config, group=group)
    if source is not None:
        spec = dataclasses.replace(
            spec, source=source.resolve(), version=version or f"{spec.version}+{source.name}"
        )
    elif version is not None:
        spec = dataclasses.replace(spec, version=version)
    return spec


def _parse_members(items: list[str]) -> list[tuple[str, Any]]:
    """VNF[:NAME][@CONFIG.yaml] items of `chain create`."""
    out = []
    for item in items:
        head, _, cfg = item.partition("@")
        vnf, _, name = head.partition(":")
        out.append((name or Path(vnf).name.split(".")[0], member(vnf, _config(Path(cfg)) if cfg else None)))
    return out


def _show(chain: Any, json_out: bool) -> None:
    data = chain.describe()
    if json_out:
        print_json(data)
        return
    state = "attached" if data["attached"] else "[red]DETACHED[/]"
    console.print(
        f"[bold]{data['chain']}[/] {state}, link {data['link_id']}, dispatcher {data['dispatcher_id']}, "
        f"end verdict [bold]{data['end']}[/], generation {data['generation']}"
    )
    table = Table()
    for col in ("#", "instance", "vnf", "prog id", "packets by verdict", "bytes"):
        table.add_column(col, justify="right" if col in ("#", "prog id", "bytes") else "left")
    for m in data["members"]:
        seen = {v: pb for v, pb in m["counters"].items() if pb[0]}
        by_verdict = ", ".join(f"{v} {p:,}" for v, (p, _b) in seen.items()) or "-"
        table.add_row(
            str(m["position"]),
            m["instance"],
            f"{m['vnf']} {m['version']}",
            str(m["prog_id"]),
            by_verdict,
            f"{sum(b for _p, b in seen.values()):,}",
        )
    console.print(table)


@app.command("list")
@command
def list_chains(json_out: bool = JsonOpt) -> None:
    """Chains on this host."""
    with _datapath() as dp:
        chains = [c.describe() for c in dp.chains()]
    if json_out:
        print_json(chains)
        return
    table = Table(title="chains")
    for col in ("chain", "end", "members", "link", "attached"):
        table.add_column(col)
    for c in chains:
        table.add_row(
            c["chain"],
            c["end"],
            " → ".join(m["instance"] for m in c["members"]) or "(empty)",
            str(c["link_id"]),
            "yes" if c["attached"] else "[red]no[/]",
        )
    console.print(table)


@app.command()
@command
def show(interface: str, hook: str = HookOpt, netns: str | None = NetnsOpt, json_out: bool = JsonOpt) -> None:
    """Members, program ids and per-hop counters of one chain."""
    with _datapath() as dp:
        _show(dp.get(_cid(interface, hook, netns)), json_out)


@app.command()
@command
def flows(
    interface: str,
    name: str = typer.Argument(..., help="the chain member: a flow monitor"),
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
    top: int = typer.Option(10, "--top", "-n", help="rows per table"),
    by: str = typer.Option("bytes", help="bytes or packets"),
    json_out: bool = JsonOpt,
) -> None:
    """Top talkers and top flows of a flow monitor in a chain (read from its maps now)."""
    from ..vnf.flowmon.flows import read_flows, top_flows, top_talkers
    from .views import talkers_tables

    if by not in ("bytes", "packets"):
        raise typer.BadParameter("--by: bytes or packets")
    with _datapath() as dp:
        m = dp.get(_cid(interface, hook, netns)).member(name)
        if "flowmon_flows4" not in m.maps:
            raise typer.BadParameter(f"member {name!r} is not a flow monitor (it is {m.spec.vnf!r})")
        all_flows = read_flows(m)  # type: ignore[arg-type]
    if json_out:
        print_json(
            {
                "flows": len(all_flows),
                "talkers": [dataclasses.asdict(t) for t in top_talkers(all_flows, top, by=by)],  # type: ignore[arg-type]
                "top": [dataclasses.asdict(f) for f in top_flows(all_flows, top, by=by)],  # type: ignore[arg-type]
            }
        )
        return
    for table in talkers_tables(all_flows, top, by=by):  # type: ignore[arg-type]
        console.print(table)


@app.command()
@command
def create(
    interface: str,
    vnfs: list[str] = typer.Argument(
        None, help="VNF\\[:NAME]\\[@CONFIG.yaml]: a catalog name or a .bpf.c path"
    ),
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
    end: str = typer.Option("pass", help="verdict after the last VNF: pass or drop"),
    mode: str = typer.Option("native", help="XDP mode: native, generic or auto"),
) -> None:
    """Create a chain and attach it (members first, the hook last)."""
    with _datapath() as dp:
        chain = dp.create(_cid(interface, hook, netns), _parse_members(vnfs or []), end=end, xdp_mode=mode)
        _show(chain, False)


@app.command()
@command
def add(
    interface: str,
    vnf: str = typer.Argument(..., help="a catalog name or a .bpf.c path"),
    name: str | None = typer.Option(None, help="instance name (default: the VNF's)"),
    position: int | None = typer.Option(None, help="0-based position (default: last)"),
    config: Path | None = typer.Option(None, help="YAML file with the VNF's config"),
    group: str | None = typer.Option(
        None, help="share the VNF's state maps with the members of this group (one instance on several hooks)"
    ),
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
) -> None:
    """Insert a VNF into a chain (atomic for packets)."""
    with _datapath() as dp:
        chain = dp.get(_cid(interface, hook, netns))
        spec = member(vnf, _config(config), group=group)
        chain.insert(name or Path(vnf).name.split(".")[0], spec, position)
        _show(chain, False)


@app.command()
@command
def remove(interface: str, name: str, hook: str = HookOpt, netns: str | None = NetnsOpt) -> None:
    """Remove a VNF instance from a chain (atomic for packets)."""
    with _datapath() as dp:
        chain = dp.get(_cid(interface, hook, netns))
        chain.remove(name)
        _show(chain, False)


@app.command()
@command
def move(interface: str, name: str, position: int, hook: str = HookOpt, netns: str | None = NetnsOpt) -> None:
    """Move a VNF instance to another position (atomic for packets)."""
    with _datapath() as dp:
        chain = dp.get(_cid(interface, hook, netns))
        chain.move(name, position)
        _show(chain, False)


@app.command()
@command
def update(
    interface: str,
    name: str,
    source: Path | None = typer.Option(None, help="a new .bpf.c for this VNF (a new version)"),
    version: str | None = typer.Option(None, help="version label of the new code"),
    config: Path | None = typer.Option(None, help="YAML file with a new config"),
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
) -> None:
    """Live-update a VNF instance (new code and/or config), keeping its maps; zero packets lost."""
    with _datapath() as dp:
        chain = dp.get(_cid(interface, hook, netns))
        current = chain.member(name)
        cfg = _config(config) if config else dict(current.spec.config)
        if current.spec.vnf in _catalog_names():
            spec = member(current.spec.vnf, cfg, source, version)
        else:
            spec = member(
                str(source or current.spec.source), cfg or dict(current.spec.globals), version=version
            )
            spec = dataclasses.replace(spec, vnf=current.spec.vnf)
        if source is None and version is None and spec.same_code(current.spec):
            chain.reconfigure(name, spec)
            console.print(f"reconfigured {name}")
        else:
            r = chain.update(name, spec)
            console.print(
                f"updated {name}: program {r.old_prog_id} → {r.new_prog_id}, swap {r.swap_ms:.3f} ms "
                f"(load + probe {r.load_ms:.1f} ms); maps reused {r.reused}, migrated {r.migrated}, "
                f"dropped {r.dropped}"
            )
        _show(chain, False)


def _catalog_names() -> set[str]:
    from ..vnf.catalog import catalog

    return set(catalog())


@app.command()
@command
def end(
    interface: str,
    verdict: str = typer.Argument(..., help="pass or drop"),
    hook: str = HookOpt,
    netns: str | None = NetnsOpt,
) -> None:
    """Set the chain's end verdict (what happens after the last VNF)."""
    with _datapath() as dp:
        chain = dp.get(_cid(interface, hook, netns))
        chain.set_end(verdict)
        _show(chain, False)


@app.command()
@command
def delete(interface: str, hook: str = HookOpt, netns: str | None = NetnsOpt) -> None:
    """Detach a chain and remove its pins and record."""
    with _datapath() as dp:
        dp.delete(_cid(interface, hook, netns))
    console.print("deleted")


@app.command()
@command
def adopt(json_out: bool = JsonOpt) -> None:
    """Take over every recorded chain after a restart and repair drift (same ids when intact)."""
    with _datapath() as dp:
        repairs = dp.adopt_all()
        chains = [c.describe()["chain"] for c in dp.chains()]
    if json_out:
        print_json({"chains": chains, "repairs": [dataclasses.asdict(r) for r in repairs]})
        return
    console.print(f"{len(chains)} chain(s) adopted")
    for r in repairs:
        console.print(f"  repaired {r.chain}: {r.what}")
