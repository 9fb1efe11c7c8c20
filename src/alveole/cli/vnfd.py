"""``alveole vnfd …`` (VNF packages) and ``alveole nsd …`` (NS descriptors)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ._mano import open_lcm
from .common import command, console, print_json

app = typer.Typer(help="VNF packages (VNFDs): onboard, list, show, delete, schema.", no_args_is_help=True)
nsd_app = typer.Typer(
    help="NS descriptors (NSDs): onboard, list, show, delete, schema.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="print JSON")


@app.command()
@command
def onboard(
    file: Path = typer.Argument(..., help="YAML with one or more VNFDs"), json_out: bool = JSON
) -> None:
    """Validate and onboard VNFDs (the program is compiled and checked). A refused file changes nothing."""
    from ..mano import DescriptorError, load_documents
    from ..mano.descriptors import kind_of

    lcm = open_lcm()
    docs = load_documents(file)
    if any(kind_of(d) != "vnfd" for d in docs):
        raise DescriptorError(
            str(file), [("", "this file holds an NSD: use alveole nsd onboard or ns deploy")]
        )
    done = lcm.onboard_vnfds(docs, base_dir=file.resolve().parent)  # all checked before any is written
    if json_out:
        print_json([lcm.vnf_package(v.vnfdId).info() for v in done])
    else:
        for v in done:
            console.print(
                f"onboarded VNFD {v.vnfdId} ({v.vnfProductName} {v.vnfSoftwareVersion})", highlight=False
            )


@app.command("list")
@command
def list_cmd(json_out: bool = JSON) -> None:
    """VNF packages: the catalog's built-in VNFDs and the onboarded ones."""
    packages = open_lcm().vnf_packages()
    if json_out:
        print_json([p.info() for p in packages])
        return
    table = Table(title="VNF packages")
    for col in ("vnfdId", "product", "version", "provider", "hooks", "program", "usage"):
        table.add_column(col)
    for p in packages:
        v = p.vnfd
        table.add_row(
            v.vnfdId,
            v.vnfProductName,
            v.vnfSoftwareVersion,
            v.vnfProvider + (" (built in)" if p.builtin else ""),
            ", ".join(v.supportedHooks),
            f"catalog:{v.program.catalog}" if v.program.catalog else Path(v.program.source or "").name,
            ", ".join(p.used_by) or "-",
        )
    console.print(table)


@app.command()
@command
def show(vnfd_id: str = typer.Argument(...), json_out: bool = JSON) -> None:
    """A VNFD, with the JSON Schema of its config."""
    from ..mano.packages import config_schema

    lcm = open_lcm()
    pkg = lcm.vnf_package(vnfd_id)
    data = {
        **pkg.info(),
        "vnfd": pkg.vnfd.model_dump(mode="json", by_alias=True, exclude_none=True),
        "configSchema": config_schema(pkg.vnfd),
    }
    if json_out:
        print_json(data)
    else:
        console.print_json(json.dumps(data, default=str))


@app.command()
@command
def delete(vnfd_id: str = typer.Argument(...)) -> None:
    """Delete an onboarded VNFD nobody uses."""
    open_lcm().delete_vnfd(vnfd_id)
    console.print(f"deleted VNFD {vnfd_id}", highlight=False)


@app.command()
def schema() -> None:
    """The JSON Schema of a VNFD."""
    from ..mano.schema import vnfd_schema

    print_json(vnfd_schema())


@nsd_app.command("onboard")
@command
def nsd_onboard(file: Path = typer.Argument(..., help="YAML with an NSD"), json_out: bool = JSON) -> None:
    """Validate and onboard an NSD (its VNFDs must be onboarded or built in)."""
    from ..mano import DescriptorError, load_documents

    docs = load_documents(file)
    if len(docs) != 1:
        raise DescriptorError(str(file), [("", f"expected one NSD, found {len(docs)} documents")])
    nsd = open_lcm().onboard_nsd(docs[0])
    if json_out:
        print_json(nsd.model_dump(mode="json", exclude_none=True))
    else:
        console.print(f"onboarded NSD {nsd.nsdId}", highlight=False)


@nsd_app.command("list")
@command
def nsd_list(json_out: bool = JSON) -> None:
    """Onboarded NSDs."""
    lcm = open_lcm()
    nsds = lcm.nsds()
    users: dict[str, list[str]] = {}
    for ns in lcm.ns_list():
        users.setdefault(ns.nsdId, []).append(ns.nsInstanceName)
    if json_out:
        print_json(
            [
                {
                    **n.model_dump(mode="json", exclude_none=True),
                    "onboardedAt": t.isoformat(),
                    "usedBy": users.get(n.nsdId, []),
                }
                for n, t in nsds
            ]
        )
        return
    table = Table(title="NS descriptors")
    for col in ("nsdId", "name", "version", "VNF profiles", "paths", "used by"):
        table.add_column(col)
    for n, _ in nsds:
        table.add_row(
            n.nsdId,
            n.nsdName,
            n.version,
            ", ".join(f"{p.vnfProfileId}={p.vnfdId}" for p in n.vnfProfiles),
            ", ".join(f"{f.forwardingPathId}@{f.hook}" for f in n.forwardingPaths),
            ", ".join(users.get(n.nsdId, [])) or "-",
        )
    console.print(table)


@nsd_app.command("show")
@command
def nsd_show(nsd_id: str = typer.Argument(...)) -> None:
    """An NSD (JSON)."""
    print_json(open_lcm().nsd(nsd_id).model_dump(mode="json", exclude_none=True))


@nsd_app.command("delete")
@command
def nsd_delete(nsd_id: str = typer.Argument(...)) -> None:
    """Delete an NSD no NS instance uses."""
    open_lcm().delete_nsd(nsd_id)
    console.print(f"deleted NSD {nsd_id}", highlight=False)


@nsd_app.command("schema")
def nsd_schema() -> None:
    """The JSON Schema of an NSD."""
    from ..mano.schema import nsd_schema as build

    print_json(build())
