"""The router's reference model: the forwarding rules in Python, with a plain longest-prefix match.

The kernel walks the expanded tables of :mod:`.tables`; the model matches the
config's routes directly (a dict per prefix length), so the differential tests
check the expansion too. In ``fib`` mode the kernel's FIB is an input: the model
asks a ``fib`` callable (:class:`FibQuery` -> :class:`FibResult`); without one it
can still tell every verdict when no egress is allowed (``ports`` empty: nothing
can be redirected), and counts the pass reasons the FIB decides as one group.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import csum
from ..model import Outcome, ReferenceModel
from ..parse import Family, Layer, Parsed, ParseStatus, parse
from ..verdict import Hook, Verdict
from .config import RouterConfig, mac_bytes
from .tables import NH_KERNEL

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = [
    "FIB_REASONS",
    "FibCode",
    "FibQuery",
    "FibResult",
    "PassReason",
    "RouterModel",
    "is_special",
    "pass_counts",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PassReason(enum.IntEnum):
    """``enum router_pass_reason``: why a packet went to the kernel."""

    NOT_IP = 0
    UNPARSED = 1
    SPECIAL = 2
    TTL = 3
    NO_ROUTE = 4
    TO_KERNEL = 5
    NO_NEIGH = 6
    MTU = 7
    NO_PORT = 8
    FIB = 9


# reasons a fib-mode verdict can have once the FIB was asked
FIB_REASONS = frozenset(
    {
        PassReason.NO_ROUTE,
        PassReason.TO_KERNEL,
        PassReason.NO_NEIGH,
        PassReason.MTU,
        PassReason.NO_PORT,
        PassReason.FIB,
    }
)


class FibCode(enum.IntEnum):
    """``BPF_FIB_LKUP_RET_*``."""

    SUCCESS = 0
    BLACKHOLE = 1
    UNREACHABLE = 2
    PROHIBIT = 3
    NOT_FWDED = 4
    FWD_DISABLED = 5
    UNSUPP_LWT = 6
    NO_NEIGH = 7
    FRAG_NEEDED = 8
    NO_SRC_ADDR = 9


_FIB_REASON = {
    FibCode.BLACKHOLE: PassReason.NO_ROUTE,
    FibCode.UNREACHABLE: PassReason.NO_ROUTE,
    FibCode.PROHIBIT: PassReason.NO_ROUTE,
    FibCode.NOT_FWDED: PassReason.TO_KERNEL,
    FibCode.NO_NEIGH: PassReason.NO_NEIGH,
    FibCode.FRAG_NEEDED: PassReason.MTU,
}


@dataclass(frozen=True)
class FibQuery:
    """What the router asks bpf_fib_lookup()."""

    src: Address
    dst: Address
    l4_proto: int
    sport: int
    dport: int
    tot_len: int  # IP length, for the MTU check


@dataclass(frozen=True)
class FibResult:
    """What bpf_fib_lookup() answered: a code, and on success the egress and MACs."""

    code: FibCode
    ifindex: int = 0
    dmac: str = "00:00:00:00:00:00"
    smac: str = "00:00:00:00:00:00"


Fib = Callable[[FibQuery], FibResult]


def is_special(addr: Address) -> bool:
    """Addresses a router never forwards to or from (router_special4/6 in router.bpf.c)."""
    if addr.version == 4:
        a, b = addr.packed[0], addr.packed[1]
        return a in (0, 127) or a >= 224 or (a == 169 and b == 254)
    raw = int(addr)
    return raw >> 120 == 0xFF or raw >> 118 == 0xFE80 >> 6 or raw in (0, 1)


def _u16(b: bytes, off: int) -> int:
    return int.from_bytes(b[off : off + 2], "big")


class RouterModel(ReferenceModel):
    """Verdicts, rewritten frames and pass-reason counters, as router.bpf.c produces them."""

    config: RouterConfig

    def __init__(self, config: RouterConfig, fib: Fib | None = None) -> None:
        super().__init__(config)
        self.fib = fib
        self._nexthops = config.nexthops
        self._egress = config.egress()
        self._by_len: dict[int, dict[tuple[int, int], int]] = {}  # prefix length -> {(version, net): nh}
        for net, nh in config.route_list():
            self._by_len.setdefault(net.prefixlen, {})[(net.version, int(net.network_address))] = nh
        self._lengths = sorted(self._by_len, reverse=True)
        self.passed: dict[PassReason, list[int]] = {r: [0, 0] for r in PassReason}
        self.fib_decided = [0, 0]  # passes the FIB decided, when no fib callable was given

    # --- the rules --------------------------------------------------------------------------
    def route(self, dst: Address) -> int:
        """The next hop id of the longest route to ``dst`` (0: none), by direct matching."""
        bits, value = dst.max_prefixlen, int(dst)
        for plen in self._lengths:
            if plen > bits:
                continue
            net = value & (((1 << plen) - 1) << (bits - plen))
            nh = self._by_len[plen].get((dst.version, net))
            if nh is not None:
                return nh
        return 0

    def _special(self, frame: bytes, p: Parsed) -> bool:
        if frame[0] & 1 or p.vlan_depth:
            return True
        assert p.src is not None and p.dst is not None
        if is_special(p.src) or is_special(p.dst):
            return True
        if p.family == Family.IPV4:
            return frame[p.l3_off] & 0x0F != 5  # IP options
        nd = p.l4_proto == 58 and p.has(Layer.L4) and 133 <= p.icmp_type <= 137
        return frame[p.l3_off + 6] == 0 or nd  # hop-by-hop options, neighbour discovery

    def _hop(self, p: Parsed, ip_len: int) -> tuple[PassReason | None, int, bytes]:
        """(reason to pass, or None; egress ifindex; dst + src MACs)."""
        assert p.dst is not None and p.src is not None
        if self.config.mode == "fib":
            if self.fib is None:
                return None, 0, b""  # decided by the kernel's FIB: see process()
            res = self.fib(FibQuery(p.src, p.dst, p.l4_proto, p.sport, p.dport, ip_len))
            if res.code != FibCode.SUCCESS:
                return _FIB_REASON.get(res.code, PassReason.FIB), 0, b""
            return None, res.ifindex, mac_bytes(res.dmac) + mac_bytes(res.smac)
        nh_id = self.route(p.dst)
        if not nh_id:
            return PassReason.NO_ROUTE, 0, b""
        if nh_id == NH_KERNEL:
            return PassReason.TO_KERNEL, 0, b""
        nh = self._nexthops.get(nh_id)
        if nh is None:
            return PassReason.NO_NEIGH, 0, b""
        if ip_len > nh.mtu:
            return PassReason.MTU, 0, b""
        return None, nh.ifindex, mac_bytes(nh.mac) + mac_bytes(nh.src_mac)

    def process(self, frame: bytes, hook: Hook) -> Outcome:
        p = parse(frame)
        if p.status != ParseStatus.OK:
            return self._pass(PassReason.UNPARSED, frame)
        if not p.has(Layer.IP):
            return self._pass(PassReason.NOT_IP, frame)
        if self._special(frame, p):
            return self._pass(PassReason.SPECIAL, frame)
        v4 = p.family == Family.IPV4
        ip_len = _u16(frame, p.l3_off + 2) if v4 else 40 + _u16(frame, p.l3_off + 4)
        if p.ttl <= 1:
            return self._pass(PassReason.TTL, frame)
        reason, ifindex, macs = self._hop(p, ip_len)
        if self.config.mode == "fib" and self.fib is None:
            if self._egress:
                raise ValueError("the model needs a fib callable for mode 'fib' with ports")
            self.fib_decided[0] += 1
            self.fib_decided[1] += len(frame)
            return Outcome(Verdict.PASS, frame)
        if reason is not None:
            return self._pass(reason, frame)
        if ifindex not in self._egress:
            return self._pass(PassReason.NO_PORT, frame)
        out = bytearray(frame)
        out[0:12] = macs
        if p.family == Family.IPV4:
            csum.ipv4_set_ttl(out, p.l3_off, p.ttl - 1)
        else:
            out[p.l3_off + 7] = p.ttl - 1
        return Outcome(Verdict.REDIRECT, bytes(out))

    def _pass(self, reason: PassReason, frame: bytes) -> Outcome:
        self.passed[reason][0] += 1
        self.passed[reason][1] += len(frame)
        return Outcome(Verdict.PASS, frame)

    # --- against the kernel ----------------------------------------------------------------
    def state_diff(self, instance: VnfInstance) -> list[str]:
        """The pass-reason counters (FIB-decided reasons summed when the FIB was not modelled)."""
        kernel = pass_counts(instance)
        diffs = []
        grouped = self.config.mode == "fib" and self.fib is None
        for reason in PassReason:
            if grouped and reason in FIB_REASONS:
                continue
            if list(kernel[reason]) != self.passed[reason]:
                diffs.append(
                    f"pass[{reason.name}]: kernel {list(kernel[reason])}, model {self.passed[reason]}"
                )
        if grouped:
            got = [sum(kernel[r][i] for r in FIB_REASONS) for i in (0, 1)]
            want = [self.fib_decided[i] + sum(self.passed[r][i] for r in FIB_REASONS) for i in (0, 1)]
            if got != want:
                diffs.append(f"pass[decided by the FIB]: kernel {got}, model {want}")
        return diffs


def pass_counts(instance: VnfInstance) -> dict[PassReason, tuple[int, int]]:
    """(packets, bytes) passed to the kernel, by reason, summed over CPUs."""
    m = instance.maps["router_pass"]
    return {r: tuple(m[int(r)].sum()) for r in PassReason}  # type: ignore[misc]
