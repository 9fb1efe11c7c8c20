"""``alveole ops …``: lifecycle operation occurrences (what ran, how it ended, its step journal)."""

from __future__ import annotations

import contextlib

import typer
from rich.table import Table

from ._mano import open_lcm, print_occ, state
from .common import command, console, print_json

app = typer.Typer(help="Lifecycle operation occurrences.", no_args_is_help=True)


@app.command("list")
@command
def list_cmd(
    ns: str | None = typer.Option(None, "--ns", help="only this NS instance (name or id)"),
    state_: str | None = typer.Option(None, "--state", help="only this state (COMPLETED, ROLLED_BACK, ...)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Operation occurrences, oldest first."""
    from ..mano import OpState

    lcm = open_lcm()
    occs = lcm.ops(ns, [OpState(state_.upper())] if state_ else None)
    if json_out:
        print_json([o.model_dump(mode="json") for o in occs])
        return
    names = {n.id: n.nsInstanceName for n in lcm.ns_list()}
    table = Table(title="operation occurrences")
    for col in ("id", "operation", "ns", "state", "started", "steps", "error"):
        table.add_column(col)
    for o in occs:
        table.add_row(
            o.id,
            o.lcmOperationType.value,
            names.get(o.nsInstanceId, o.nsInstanceId),
            state(o.operationState.value) + (" (recovered)" if o.resolvedAtRecovery else ""),
            o.startTime.strftime("%Y-%m-%d %H:%M:%S"),
            str(len(o.journal)),
            (o.error.detail[:60] if o.error else ""),
        )
    console.print(table)


@app.command()
@command
def show(
    occ_id: str = typer.Argument(..., help="operation occurrence id"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """One occurrence with its parameters and step journal."""
    occ = open_lcm().op(occ_id)
    if json_out:
        print_json(occ.model_dump(mode="json"))
        return
    console.print(f"parameters: {occ.operationParams}", highlight=False)
    with contextlib.suppress(typer.Exit):  # showing a failed occurrence is not a failure
        print_occ(occ, False)
