"""The receiving side: an XDP counter on an interface (it also lets the veth accept
redirected frames). Counts every frame; drops them (a sink) or passes them on."""

from __future__ import annotations

import time

from .. import progs
from ..bpf import BpfObject, Link, XdpAction
from ..toolchain import open_source

__all__ = ["Receiver"]


class Receiver:
    """Count the frames arriving on ``interface`` (in ``netns``) with an XDP program."""

    def __init__(self, interface: str, *, netns: str | None = None, drop: bool = True, mode: str = "native"):
        self.interface = interface
        self.netns = netns
        self.drop = drop
        self.mode = mode
        self._obj: BpfObject | None = None
        self._link: Link | None = None

    def open(self) -> Receiver:
        if self._obj is not None:
            return self
        obj = open_source(progs.path("counter"), name="receiver")
        try:
            obj.globals["action"] = int(XdpAction.DROP if self.drop else XdpAction.PASS)
            obj.load()
            self._link = obj.program().attach_xdp(self.interface, mode=self.mode, netns=self.netns)
        except BaseException:
            obj.close()
            raise
        self._obj = obj
        return self

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None

    def __enter__(self) -> Receiver:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _total(self) -> tuple[int, int]:
        if self._obj is None:
            raise RuntimeError("receiver is not open")
        c = self._obj.map("counters")[0].sum()
        return int(c.packets), int(c.bytes)

    @property
    def packets(self) -> int:
        return self._total()[0]

    @property
    def bytes(self) -> int:
        """Bytes counted (frames without FCS)."""
        return self._total()[1]

    def wait_for(self, expected: int, timeout: float = 2.0, settle: float = 0.02) -> int:
        """Packets counted once ``expected`` arrived, or once the count stops moving."""
        deadline = time.monotonic() + timeout
        last = -1
        while True:
            n = self.packets
            if n >= expected or time.monotonic() > deadline:
                return n
            if n == last:
                time.sleep(settle)  # one more look: nothing moved for a whole settle period
                if self.packets == n:
                    return n
            last = n
            time.sleep(settle)
