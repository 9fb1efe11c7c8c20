"""Verdicts of the VNF contract (``enum alv_verdict`` in ``alveole/vnf.h``) and hooks."""

from __future__ import annotations

import enum
from typing import Literal

from ..bpf import TcAction, XdpAction

__all__ = ["HOOKS", "Hook", "Verdict", "standalone_action"]

Hook = Literal["xdp", "tc"]
HOOKS: tuple[Hook, ...] = ("xdp", "tc")


class Verdict(enum.IntEnum):
    """What a VNF body returns. Values are the C enum's (checked against BTF by a test)."""

    CONTINUE = 0
    PASS = 1
    DROP = 2
    TX = 3
    REDIRECT = 4
    ABORTED = 5


_XDP = {
    Verdict.CONTINUE: XdpAction.PASS,
    Verdict.PASS: XdpAction.PASS,
    Verdict.DROP: XdpAction.DROP,
    Verdict.TX: XdpAction.TX,
    Verdict.ABORTED: XdpAction.ABORTED,
}
_TC = {
    Verdict.CONTINUE: TcAction.OK,
    Verdict.PASS: TcAction.OK,
    Verdict.DROP: TcAction.SHOT,
    Verdict.ABORTED: TcAction.SHOT,
}


def standalone_action(verdict: Verdict, hook: Hook) -> XdpAction | TcAction | None:
    """The hook action a VNF loaded alone (no chain) returns for ``verdict``.

    None for REDIRECT (whatever bpf_redirect*() returned). TX in TC is counted
    as ABORTED by the entry, so it never shows up as a TC verdict.
    """
    if verdict == Verdict.REDIRECT:
        return None
    return (_XDP if hook == "xdp" else _TC).get(verdict)
