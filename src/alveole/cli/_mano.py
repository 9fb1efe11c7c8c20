"""Shared pieces of the MANO commands: opening the lifecycle manager, printing occurrences."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from .common import console, err_console, print_json

if TYPE_CHECKING:
    from ..mano import Lcm, OpOcc

__all__ = ["STATE_STYLE", "open_lcm", "print_occ", "state"]

STATE_STYLE = {
    "COMPLETED": "green",
    "ROLLED_BACK": "yellow",
    "FAILED": "red",
    "STARTING": "cyan",
    "PROCESSING": "cyan",
    "INSTANTIATED": "green",
    "NOT_INSTANTIATED": "dim",
    "STARTED": "green",
    "STOPPED": "yellow",
}


def state(value: str) -> str:
    return f"[{STATE_STYLE.get(value, 'white')}]{value}[/]"


def open_lcm() -> Lcm:
    """The host's lifecycle manager (``$ALVEOLE_MANO_DB``); says what it recovered from a crash."""
    from ..mano import Lcm

    lcm = Lcm.open()
    for occ in lcm.recovered:
        err_console.print(
            f"[yellow]recovered[/] {occ.lcmOperationType.value} {occ.id} left by a dead process: "
            f"{occ.operationState.value}",
            highlight=False,
        )
    return lcm


def _ms(occ: OpOcc) -> str:
    ms = (occ.stateEnteredTime - occ.startTime) / dt.timedelta(milliseconds=1)
    return f"{ms:.0f} ms"


def print_occ(occ: OpOcc, json_out: bool, extra: dict[str, Any] | None = None) -> None:
    """An operation's outcome; exits 1 unless it COMPLETED."""
    if json_out:
        print_json({**(extra or {}), "opOcc": occ.model_dump(mode="json")})
    else:
        console.print(
            f"{occ.lcmOperationType.value} [bold]{occ.id}[/] {state(occ.operationState.value)} in {_ms(occ)}",
            highlight=False,
        )
        if occ.journal:
            table = Table(box=None, pad_edge=False)
            for col in ("step", "chain", "action", "detail", "state", "ms"):
                table.add_column(col)
            for s in occ.journal:
                table.add_row(str(s.n), s.chain, s.action, s.detail, s.state, f"{s.ms:.1f}" if s.ms else "")
            console.print(table)
        if occ.error:
            err_console.print(f"[red]error:[/] {occ.error.detail}", highlight=False)
    if occ.operationState.value != "COMPLETED":
        raise typer.Exit(1)
