"""The load balancer's reference model: lb.bpf.c in Python, flow table and NAT table included."""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import csum
from ..model import Outcome, ReferenceModel
from ..parse import Family, Layer, Parsed, ParseStatus, parse
from ..verdict import Hook, Verdict
from .config import VIP_DSR, LbConfig
from .hashing import flow_hash, flow_key_bytes, snat_hash

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["RING_PROBES", "SNAT_TRIES", "Flow", "FlowKey", "LbModel", "Reason"]

RING_PROBES = 4  # LB_RING_PROBES
SNAT_TRIES = 8  # LB_SNAT_TRIES
TUNNEL_TTL = 64
_V4_PREFIX = bytes(10) + b"\xff\xff"
_TCP, _UDP = 6, 17


class Reason(enum.IntEnum):
    """``enum lb_reason``: what happened to a packet (``lb_reasons``)."""

    OTHER = 0
    UNPARSED = 1
    FRAGMENT = 2
    NEW = 3
    ESTABLISHED = 4
    REPINNED = 5
    REPLY = 6
    NO_BACKEND = 7
    NO_PORT = 8
    NO_ADDRESS = 9
    ERROR = 10
    FIB_PASS = 11


@dataclass(frozen=True, order=True)
class FlowKey:
    """``struct lb_flow_key`` (addresses as 16 bytes, IPv4 mapped)."""

    client: bytes
    vip: bytes
    cport: int
    vport: int
    proto: int

    @property
    def raw(self) -> bytes:
        return flow_key_bytes(self.client, self.vip, self.cport, self.vport, self.proto)

    def __str__(self) -> str:
        return f"{_addr(self.client)}:{self.cport} -> {_addr(self.vip)}:{self.vport}/{self.proto}"


@dataclass(frozen=True)
class Flow:
    """``struct lb_flow``: where a flow goes."""

    backend: int  # backend id
    vip_tag: int  # its VIP's tag (the backend must still carry it)
    snat_port: int  # full-NAT source port towards the backend (0 for DSR)
    flags: int  # the VIP's flags when the flow began


def _addr(raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(raw[12:]) if raw[:12] == _V4_PREFIX else ipaddress.IPv6Address(raw)


def _is_v4(raw: bytes) -> bool:
    return raw[:12] == _V4_PREFIX


class LbModel(ReferenceModel):
    """What lb.bpf.c does, packet by packet, from the config's map entries."""

    config: LbConfig

    def __init__(self, config: LbConfig) -> None:
        super().__init__(config)
        self.apply(config)
        self.flows: dict[FlowKey, Flow] = {}
        self.nat: dict[tuple[bytes, int, int, int], tuple[bytes, bytes, int, int]] = {}
        self.reasons: dict[Reason, list[int]] = {r: [0, 0] for r in Reason}
        self.backend_flows: dict[int, int] = {}

    def apply(self, config: LbConfig) -> None:
        """The config's map entries, as :meth:`VnfInstance.apply` writes them; state stays."""
        self.config = config
        self.vips = {key: (v["tag"], v["ring"], v["flags"]) for key, v in config.vip_entries().items()}
        self.backends = {
            bid: (b["addr"], b["vip_tag"], b["port"]) for bid, b in config.backend_entries().items()
        }
        self.ring = config.ring_entries()
        self.settings = config.settings_value()

    # --- the data path (the order of lb() in lb.bpf.c) ---------------------------------
    def process(self, frame: bytes, hook: Hook) -> Outcome:
        if hook != "xdp":
            raise ValueError("the lb VNF runs in XDP only")
        if self.config.egress == "fib":
            raise NotImplementedError("the model cannot predict the node's FIB: use egress stack or chain")
        p = parse(frame)
        if p.status != ParseStatus.OK:
            return self._done(Reason.UNPARSED, frame, Verdict.CONTINUE)
        if not p.has(Layer.PROTO) or p.l4_proto not in (_TCP, _UDP):
            return self._done(Reason.OTHER, frame, Verdict.CONTINUE)
        if p.frag:
            return self._done(Reason.FRAGMENT, frame, Verdict.CONTINUE)
        if p.daddr == self.settings["snat4" if p.family == Family.IPV4 else "snat6"]:
            n = self.nat.get((p.saddr, p.sport, p.dport, p.l4_proto))
            if n is not None:
                client, vip, cport, vport = n
                out = _rewrite(frame, p, vip, vport, client, cport)
                self._count(Reason.REPLY, len(frame))
                return Outcome(self._out(), out)
        fk = FlowKey(p.saddr, p.daddr, p.sport, p.dport, p.l4_proto)
        f = self.flows.get(fk)
        if f is not None:
            b = self.backends.get(f.backend)
            if b is not None and b[1] == f.vip_tag:
                return self._forward(frame, p, b, f.snat_port, f.flags, Reason.ESTABLISHED)
        return self._new_flow(frame, p, fk, known=f is not None)

    def _done(self, reason: Reason, frame: bytes, verdict: Verdict) -> Outcome:
        self._count(reason, len(frame))
        return Outcome(verdict, frame)

    def _count(self, reason: Reason, length: int) -> None:
        self.reasons[reason][0] += 1
        self.reasons[reason][1] += length

    def _out(self) -> Verdict:
        return Verdict.CONTINUE if self.config.egress == "chain" else Verdict.PASS

    def _src(self, addr: bytes, kind: str) -> bytes:
        return self.settings[f"{kind}4" if _is_v4(addr) else f"{kind}6"]

    def _pick(self, tag: int, ring: int, h: int) -> int | None:
        size = self.config.ring_size
        slot = h % size
        for _ in range(RING_PROBES):
            bid = self.ring.get(ring * size + slot, 0)
            b = self.backends.get(bid) if bid else None
            if b is not None and b[1] == tag:
                return bid
            slot = 0 if slot + 1 == size else slot + 1
        return None

    def _snat_port(self, fk: FlowKey, backend: tuple[bytes, int, int], h: int) -> int:
        lo, hi = self.settings["port_min"], self.settings["port_max"]
        if hi < lo:
            return 0
        span = hi - lo + 1
        off = snat_hash(h) % span
        mine = (fk.client, fk.vip, fk.cport, fk.vport)
        for _ in range(SNAT_TRIES):
            key = (backend[0], backend[2], lo + off, fk.proto)
            cur = self.nat.get(key)
            if cur is None:
                self.nat[key] = mine
                return lo + off
            if cur == mine:
                return lo + off
            off = 0 if off + 1 == span else off + 1
        return 0

    def _new_flow(self, frame: bytes, p: Parsed, fk: FlowKey, known: bool) -> Outcome:
        vip = self.vips.get((fk.vip, fk.vport, fk.proto))
        if vip is None:
            if known:  # its VIP is gone: the flow is forgotten
                del self.flows[fk]
            return self._done(Reason.OTHER, frame, Verdict.CONTINUE)
        tag, ring, flags = vip
        h = flow_hash(fk.raw)
        bid = self._pick(tag, ring, h)
        if bid is None:
            return self._done(Reason.NO_BACKEND, frame, Verdict.DROP)
        b = self.backends[bid]
        snat_port = 0
        if not flags & VIP_DSR:
            if not any(self._src(b[0], "snat")):
                return self._done(Reason.NO_ADDRESS, frame, Verdict.DROP)
            snat_port = self._snat_port(fk, b, h)
            if not snat_port:
                return self._done(Reason.NO_PORT, frame, Verdict.DROP)
        self.flows[fk] = Flow(bid, tag, snat_port, flags)
        self.backend_flows[bid] = self.backend_flows.get(bid, 0) + 1
        return self._forward(frame, p, b, snat_port, flags, Reason.REPINNED if known else Reason.NEW)

    def _forward(
        self, frame: bytes, p: Parsed, b: tuple[bytes, int, int], snat_port: int, flags: int, reason: Reason
    ) -> Outcome:
        if flags & VIP_DSR:
            src = self._src(b[0], "tunnel")
            if not any(src):
                return self._done(Reason.NO_ADDRESS, frame, Verdict.DROP)
            out = _encap(frame, p, b[0], src)
        else:
            src = self._src(b[0], "snat")
            if not any(src):
                return self._done(Reason.NO_ADDRESS, frame, Verdict.DROP)
            out = _rewrite(frame, p, src, snat_port, b[0], b[2])
        self._count(reason, len(frame))
        return Outcome(self._out(), out)

    # --- state ------------------------------------------------------------------------
    def state_diff(self, instance: VnfInstance) -> list[str]:
        """Flows, NAT translations, reason counters and per-backend flow counts vs the maps.

        Exact while the tables are far from full (LRU tables may evict early).
        """
        from .state import backend_flow_counts, read_flows, read_nat, reason_counts

        diffs: list[str] = []
        kernel_flows = read_flows(instance.maps)
        if kernel_flows != self.flows:
            for k in sorted(kernel_flows.keys() | self.flows.keys()):
                if kernel_flows.get(k) != self.flows.get(k):
                    diffs.append(f"flow {k}: kernel {kernel_flows.get(k)}, model {self.flows.get(k)}")
        kernel_nat = read_nat(instance.maps)
        if kernel_nat != self.nat:
            diffs.append(f"NAT table: kernel {len(kernel_nat)} entries, model {len(self.nat)} (they differ)")
        for reason, counts in reason_counts(instance.maps).items():
            if list(counts) != self.reasons[reason]:
                diffs.append(f"reason {reason.name}: kernel {list(counts)}, model {self.reasons[reason]}")
        kernel_backend = backend_flow_counts(instance.maps)
        if kernel_backend != self.backend_flows:
            diffs.append(f"flows per backend: kernel {kernel_backend}, model {self.backend_flows}")
        return diffs


def _l4_csum_off(p: Parsed) -> int:
    return p.l4_off + (6 if p.l4_proto == _UDP else 16)


def _rewrite(frame: bytes, p: Parsed, saddr: bytes, sport: int, daddr: bytes, dport: int) -> bytes:
    """``lb_rewrite``: addresses and ports, every checksum patched in the same order as the C code."""
    buf = bytearray(frame)
    kind = csum.CSUM_UDP if p.l4_proto == _UDP else csum.CSUM_TCP
    l4c = _l4_csum_off(p)
    if p.family == Family.IPV4:
        csum.ipv4_set_addr(buf, p.l3_off, "saddr", ipaddress.IPv4Address(saddr[12:]), l4c, kind)
        csum.ipv4_set_addr(buf, p.l3_off, "daddr", ipaddress.IPv4Address(daddr[12:]), l4c, kind)
    else:
        csum.ipv6_set_addr(buf, p.l3_off, "saddr", ipaddress.IPv6Address(saddr), l4c, kind)
        csum.ipv6_set_addr(buf, p.l3_off, "daddr", ipaddress.IPv6Address(daddr), l4c, kind)
    csum.l4_set_port(buf, p.l4_off, sport, l4c, kind)
    csum.l4_set_port(buf, p.l4_off + 2, dport, l4c, kind)
    return bytes(buf)


def _encap(frame: bytes, p: Parsed, daddr: bytes, src: bytes) -> bytes:
    """``lb_encap``: the L2 header, an outer IPv4/IPv6 header, then the frame from its IP header on."""
    inner_len = p.ip_end - p.l3_off
    outer4 = _is_v4(daddr)
    proto = 4 if p.family == Family.IPV4 else 41
    l2 = bytearray(frame[: p.l3_off])
    l2[-2:] = (0x0800 if outer4 else 0x86DD).to_bytes(2, "big")
    if outer4:
        hdr = bytearray(
            struct.pack(
                ">BBHHHBBH4s4s",
                0x45,
                p.tos,
                inner_len + 20,
                0,
                0x4000,
                TUNNEL_TTL,
                proto,
                0,
                src[12:],
                daddr[12:],
            )
        )
        hdr[10:12] = csum.checksum(bytes(hdr)).to_bytes(2, "big")
    else:
        hdr = bytearray(
            struct.pack(">IHBB16s16s", 0x60000000 | p.tos << 20, inner_len, proto, TUNNEL_TTL, src, daddr)
        )
    return bytes(l2) + bytes(hdr) + frame[p.l3_off :]
