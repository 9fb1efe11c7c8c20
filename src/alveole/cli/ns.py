"""``alveole ns …``: deploy a network service from its descriptors, watch it, change it live, tear it down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from ._mano import open_lcm, print_occ, state
from .common import command, console, print_json

app = typer.Typer(
    help="Network service instances: deploy, list, show, update, scale, heal, stop/start, terminate.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="print JSON")


@app.command()
@command
def deploy(
    file: Path = typer.Argument(
        ..., help="YAML: one NSD, plus the VNFDs it needs (documents separated by ---)"
    ),
    name: str | None = typer.Option(None, help="NS instance name (default: the nsdId)"),
    netns: str | None = typer.Option(None, help="network namespace of the interfaces (overrides the NSD's)"),
    json_out: bool = JSON,
) -> None:
    """Onboard the descriptors, create the NS instance and instantiate it. A refused file changes nothing."""
    from ..mano import OperationFailedError, load_documents

    lcm = open_lcm()
    docs = load_documents(file)
    try:
        ns, occ = lcm.deploy(docs, base_dir=file.resolve().parent, name=name, netns=netns)
    except OperationFailedError as e:
        print_occ(e.occ, json_out)
        return
    if not json_out:
        console.print(
            f"deployed [bold]{ns.nsInstanceName}[/] ({ns.id}) from NSD {ns.nsdId}"
            + (f" in netns {ns.netns}" if ns.netns else ""),
            highlight=False,
        )
    print_occ(occ, json_out, {"nsInstance": ns.model_dump(mode="json")})


@app.command("create")
@command
def create(
    nsd_id: str = typer.Argument(..., help="an onboarded NSD"),
    name: str | None = typer.Option(None, help="NS instance name (default: the nsdId)"),
    json_out: bool = JSON,
) -> None:
    """Create an NS instance (NOT_INSTANTIATED) from an onboarded NSD."""
    ns = open_lcm().create_ns(nsd_id, name)
    if json_out:
        print_json(ns.model_dump(mode="json"))
    else:
        console.print(f"created {ns.nsInstanceName} ({ns.id})", highlight=False)


@app.command("instantiate")
@command
def instantiate(
    name: str = typer.Argument(..., help="NS instance name or id"),
    netns: str | None = typer.Option(None, help="network namespace (overrides the NSD's)"),
    json_out: bool = JSON,
) -> None:
    """INSTANTIATE an NS instance: one chain per forwarding path and interface."""
    occ = open_lcm().execute(name, "INSTANTIATE", {"netns": netns} if netns else {}, check=False)
    print_occ(occ, json_out)


@app.command("list")
@command
def list_cmd(json_out: bool = JSON) -> None:
    """NS instances."""
    lcm = open_lcm()
    instances = lcm.ns_list()
    if json_out:
        print_json([ns.model_dump(mode="json") for ns in instances])
        return
    table = Table(title="NS instances")
    for col in ("name", "id", "nsd", "state", "operational", "netns", "VNFs", "chains"):
        table.add_column(col)
    for ns in instances:
        chains = sum(len(ns.link(f.virtualLinkId).interfaces) for f in ns.forwardingPaths)
        table.add_row(
            ns.nsInstanceName,
            ns.id,
            ns.nsdId,
            state(ns.nsState.value),
            state(ns.operationalState) if ns.nsState.value == "INSTANTIATED" else "",
            ns.netns or "(host)",
            ", ".join(f"{v.vnfProfileId}={v.vnfdId}" for v in ns.vnfInstances),
            str(chains),
        )
    console.print(table)


@app.command()
@command
def show(name: str = typer.Argument(..., help="NS instance name or id"), json_out: bool = JSON) -> None:
    """An NS instance, its VNFs and its chains as the kernel runs them, with per-hop counters."""
    lcm = open_lcm()
    ns = lcm.ns(name)
    reports = lcm.chains(ns)
    if json_out:
        print_json({**ns.model_dump(mode="json"), "chains": [r.as_dict() for r in reports]})
        return
    console.print(
        f"[bold]{ns.nsInstanceName}[/] ({ns.id}) NSD {ns.nsdId}: {state(ns.nsState.value)}"
        + (f", {state(ns.operationalState)}" if ns.nsState.value == "INSTANTIATED" else "")
        + (f" (stopped chains {ns.stopVerdict})" if ns.operationalState == "STOPPED" else "")
        + f", netns {ns.netns or '(host)'}",
        highlight=False,
    )
    if ns.vnfInstances:
        vnfs = Table(title="VNF instances")
        for col in ("profile", "vnfd", "product", "version", "config"):
            vnfs.add_column(col)
        for v in ns.vnfInstances:
            vnfs.add_row(v.vnfProfileId, v.vnfdId, v.vnfProductName, v.vnfSoftwareVersion, _short(v.config))
        console.print(vnfs)
    for r in reports:
        d = r.as_dict()
        sync = "[green]in sync[/]" if r.in_sync else "[red]DRIFT: heal it[/]"
        table = Table(
            title=f"{d['chain']} (path {d['forwardingPathId']}, end {d['end']}, "
            f"{'attached' if d['attached'] else 'NOT attached'}, {sync})"
        )
        for col in ("#", "vnf", "version", "prog", "continue", "pass", "drop", "tx", "redirect", "aborted"):
            table.add_column(col, justify="right" if col not in ("vnf", "version") else "left")
        for i, m in enumerate(d["members"]):
            c = m["counters"]
            table.add_row(
                str(i),
                m["vnfProfileId"],
                m["version"],
                str(m["progId"] or "-"),
                *(
                    f"{c[v]['packets']:,}" if v in c else "-"
                    for v in ("continue", "pass", "drop", "tx", "redirect", "aborted")
                ),
            )
        console.print(table)


def _short(config: dict[str, Any]) -> str:
    text = yaml.safe_dump(config, default_flow_style=True, width=10_000).strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{v!r}: expected {what}")
        out.append((key, value))
    return out


@app.command()
@command
def update(
    name: str = typer.Argument(..., help="NS instance name or id"),
    set_: list[str] = typer.Option([], "--set", help="PROFILE.KEY=VALUE (VALUE in YAML; repeatable)"),
    config: list[str] = typer.Option([], "--config", help="PROFILE=FILE: a YAML merge patch for its config"),
    package: list[str] = typer.Option([], "--package", help="PROFILE=VNFD: run another version, live"),
    json_out: bool = JSON,
) -> None:
    """UPDATE: change VNF configs (map diffs, or a live reload for load-time settings) or VNF packages."""
    lcm = open_lcm()
    if package and (set_ or config):
        raise typer.BadParameter(
            "--package is one operation, --set/--config another: run them one after the other"
        )
    if package:
        request: dict[str, Any] = {
            "updateType": "CHANGE_VNFPKG",
            "changeVnfPackageData": [
                {"vnfProfileId": p, "vnfdId": v} for p, v in _pairs(package, "PROFILE=VNFD")
            ],
        }
    else:
        patches: dict[str, dict[str, Any]] = {}
        for profile, path in _pairs(config, "PROFILE=FILE"):
            patch = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(patch, dict):
                raise typer.BadParameter(f"{path}: expected a mapping")
            patches.setdefault(profile, {}).update(patch)
        for key, value in _pairs(set_, "PROFILE.KEY=VALUE"):
            profile, dot, field = key.partition(".")
            if not dot or not field:
                raise typer.BadParameter(f"{key!r}: expected PROFILE.KEY")
            patches.setdefault(profile, {})[field] = yaml.safe_load(value)
        if not patches:
            raise typer.BadParameter("nothing to update: give --set, --config or --package")
        request = {
            "updateType": "MODIFY_VNF_INFORMATION",
            "modifyVnfInfoData": [
                {"vnfProfileId": p, "vnfConfigurableProperties": c} for p, c in patches.items()
            ],
        }
    print_occ(lcm.execute(name, "UPDATE", request, check=False), json_out)


@app.command()
@command
def scale(
    name: str = typer.Argument(..., help="NS instance name or id"),
    interface: list[str] = typer.Option(
        ..., "--interface", "-i", help="interface to add or remove (repeatable)"
    ),
    scale_in: bool = typer.Option(False, "--in", help="remove the interfaces (default: add them)"),
    link: str | None = typer.Option(None, "--link", help="the virtual link"),
    profile: str | None = typer.Option(None, "--profile", help="or: a VNF profile (its paths' link)"),
    json_out: bool = JSON,
) -> None:
    """SCALE: add (out) or remove (in) interfaces of a virtual link: a chain per interface and path."""
    request = {
        "scaleType": "SCALE_IN" if scale_in else "SCALE_OUT",
        "interfaces": interface,
        **({"virtualLinkId": link} if link else {}),
        **({"vnfProfileId": profile} if profile else {}),
    }
    print_occ(open_lcm().execute(name, "SCALE", request, check=False), json_out)


@app.command()
@command
def heal(
    name: str = typer.Argument(..., help="NS instance name or id"),
    complete: bool = typer.Option(False, "--complete", help="also reload every VNF program (maps kept)"),
    json_out: bool = JSON,
) -> None:
    """HEAL: re-adopt the chains, repair drift, put back what is missing (and reload programs)."""
    degree = "COMPLETE_HEALING" if complete else "HEAL_RESTORE"
    print_occ(open_lcm().execute(name, "HEAL", {"degreeHealing": degree}, check=False), json_out)


@app.command()
@command
def stop(
    name: str = typer.Argument(..., help="NS instance name or id"),
    verdict: str = typer.Option("drop", help="what stopped chains do with packets: drop (default) or pass"),
    json_out: bool = JSON,
) -> None:
    """OPERATE to STOPPED: every chain keeps its hook with no VNF, and drops (or, if asked, passes)."""
    request = {"changeStateTo": "STOPPED", "stopVerdict": verdict}
    print_occ(open_lcm().execute(name, "OPERATE", request, check=False), json_out)


@app.command()
@command
def start(name: str = typer.Argument(..., help="NS instance name or id"), json_out: bool = JSON) -> None:
    """OPERATE to STARTED: the VNFs back in their chains (fresh state)."""
    print_occ(open_lcm().execute(name, "OPERATE", {"changeStateTo": "STARTED"}, check=False), json_out)


@app.command()
@command
def terminate(
    name: str = typer.Argument(..., help="NS instance name or id"),
    keep: bool = typer.Option(False, "--keep", help="keep the NS instance (NOT_INSTANTIATED) afterwards"),
    json_out: bool = JSON,
) -> None:
    """TERMINATE: remove the chains (hooks, pins, records), then the NS instance unless --keep."""
    lcm = open_lcm()
    occ = lcm.execute(name, "TERMINATE", {}, check=False)
    if occ.operationState.value == "COMPLETED" and not keep:
        lcm.delete_ns(occ.nsInstanceId)
    print_occ(occ, json_out)


@app.command()
@command
def delete(name: str = typer.Argument(..., help="NS instance name or id (NOT_INSTANTIATED)")) -> None:
    """Delete a NOT_INSTANTIATED NS instance."""
    open_lcm().delete_ns(name)
    console.print(f"deleted {name}", highlight=False)
