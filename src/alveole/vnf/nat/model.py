"""The NAT's reference model: ``nat.bpf.c`` in Python, step for step.

The model keeps the conntrack table (:class:`~alveole.conntrack.ConntrackModel`),
the reverse bindings and the ``nat_stats`` counters, and rewrites frames with
the same incremental checksum updates, in the same order, as the kernel, so
its output bytes are the kernel's. ``process(frame, hook)`` takes the
direction of a standalone test_run: XDP is inbound, TC (no context) outbound;
:meth:`NatModel.process_dir` takes it explicitly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...conntrack import ConntrackModel, Dir, Nat, NatKind, Tuple, tuple_from
from ...conntrack.key import Inner, inner_of, is_echo, is_echo_request, is_icmp_error, tuple_of
from ...conntrack.states import TCP_RST
from ..csum import CSUM_TCP, CSUM_UDP, l4_update, update
from ..model import Outcome, ReferenceModel
from ..parse import Family, Frag, Layer, Parsed, ParseStatus, mapped, parse
from ..verdict import Hook, Verdict
from .config import NatConfig, prefix_key
from .stats import NAT_STATS, read_bindings, read_nat_stats

if TYPE_CHECKING:
    from ..instance import VnfInstance

__all__ = ["NAT_TRIES", "NatModel", "RevKey", "RevVal", "port_hash"]

NAT_TRIES = 32
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58


def port_hash(key_bytes: bytes, seed: int) -> int:
    """``nat_hash``: FNV-1a over the kernel key's native 32-bit words (4 for IPv4, 10 for IPv6), seeded."""
    h = 2166136261 ^ seed
    for w in struct.unpack(f"={len(key_bytes) // 4}I", key_bytes):
        h = ((h ^ w) * 16777619) & 0xFFFFFFFF
    return h ^ (h >> 16)


@dataclass(frozen=True)
class RevKey:
    """``struct nat_rev_key``: a translated flow as the outside sees it."""

    raddr: bytes
    xaddr: bytes
    rport: int
    xport: int
    proto: int


@dataclass(frozen=True)
class RevVal:
    """``struct nat_rev_val``: its inside endpoint."""

    addr: bytes
    port: int
    kind: NatKind


def _get16(buf: bytearray, off: int) -> int:
    return int.from_bytes(buf[off : off + 2], "big")


def _put16(buf: bytearray, off: int, value: int) -> None:
    buf[off : off + 2] = value.to_bytes(2, "big")


class NatModel(ReferenceModel):
    """What ``nat.bpf.c`` does to each frame, and the state it keeps."""

    config: NatConfig

    def __init__(self, config: NatConfig) -> None:
        super().__init__(config)
        self.ct = ConntrackModel()
        self.rev: dict[RevKey, RevVal] = {}
        self.stats: dict[str, int] = dict.fromkeys(NAT_STATS, 0)
        self._snat = [prefix_key(n) for n in config.snat]
        self._dnat = {
            (r.port, r.proto_number, r.to.version): (mapped(r.to), r.target_port) for r in config.forward
        }
        self._addr = {
            4: mapped(config.address) if config.address else None,
            6: config.address6.packed if config.address6 else None,
        }

    # --- entry points ---------------------------------------------------------------------------
    def process(self, frame: bytes, hook: Hook) -> Outcome:
        return self.process_dir(frame, inbound=hook == "xdp")

    def process_dir(self, frame: bytes, *, inbound: bool) -> Outcome:
        p = parse(frame)
        if p.status != ParseStatus.OK or not p.has(Layer.PROTO):
            return Outcome(Verdict.CONTINUE, frame)
        if self._addr[int(p.family)] is None:
            return Outcome(Verdict.CONTINUE, frame)
        buf = bytearray(frame)
        verdict = self._in(p, buf) if inbound else self._out(p, buf)
        return Outcome(verdict, bytes(buf))

    # --- helpers ----------------------------------------------------------------------------------
    def _me(self, p: Parsed) -> bytes:
        addr = self._addr[int(p.family)]
        assert addr is not None
        return addr

    def _snat_source(self, p: Parsed) -> bool:
        if not self._snat:
            return False
        import ipaddress

        src = ipaddress.IPv6Address(p.saddr)
        return any(src in net for net in self._snat)

    @staticmethod
    def _is_icmp(p: Parsed) -> bool:
        return p.l4_proto == (ICMP if p.family == Family.IPV4 else ICMPV6)

    def _count(self, name: str) -> None:
        self.stats[name] += 1

    def _rewrite(self, p: Parsed, buf: bytearray, dst: bool, addr: bytes, port: int, with_l4: bool) -> None:
        """``nat_rewrite``."""
        v4 = p.family == Family.IPV4
        l4 = p.l4_off
        port_off = csum_off = None
        pseudo, kind = True, CSUM_TCP
        if with_l4:
            if p.l4_proto == TCP:
                port_off, csum_off = l4 + (2 if dst else 0), l4 + 16
            elif p.l4_proto == UDP:
                port_off, csum_off, kind = l4 + (2 if dst else 0), l4 + 6, CSUM_UDP
            else:
                port_off, csum_off, pseudo = l4 + 4, l4 + 2, not v4
        if v4:
            off = p.l3_off + (16 if dst else 12)
            old, new = bytes(buf[off : off + 4]), addr[12:]
            buf[off : off + 4] = new
            _put16(buf, p.l3_off + 10, update(_get16(buf, p.l3_off + 10), old, new))
        else:
            off = p.l3_off + (24 if dst else 8)
            old, new = bytes(buf[off : off + 16]), addr
            buf[off : off + 16] = new
        if port_off is None or csum_off is None:
            return
        oldp, newp = bytes(buf[port_off : port_off + 2]), port.to_bytes(2, "big")
        buf[port_off : port_off + 2] = newp
        if pseudo:
            _put16(buf, csum_off, l4_update(_get16(buf, csum_off), old, new, kind))
        _put16(buf, csum_off, l4_update(_get16(buf, csum_off), oldp, newp, kind))

    def _icmp_xlate(
        self, p: Parsed, buf: bytearray, inner: Inner, inbound: bool, addr: bytes, port: int
    ) -> None:
        """``nat_icmp_xlate``."""
        v4 = p.family == Family.IPV4
        udp = inner.proto == UDP
        pseudo = True
        ic_off = p.l4_off + 2
        ic = _get16(buf, ic_off)
        newp = port.to_bytes(2, "big")
        l3 = inner.l3_off
        if v4:
            f = l3 + (12 if inbound else 16)
            old, new = bytes(buf[f : f + 4]), addr[12:]
            oc = _get16(buf, l3 + 10)
            buf[f : f + 4] = new
            nc = update(oc, old, new)
            _put16(buf, l3 + 10, nc)
            ic = update(ic, old, new)
            ic = update(ic, oc.to_bytes(2, "big"), nc.to_bytes(2, "big"))
        else:
            f = l3 + (8 if inbound else 24)
            old, new = bytes(buf[f : f + 16]), addr
            buf[f : f + 16] = new
            ic = update(ic, old, new)
        l4 = inner.l4_off
        if inner.proto in (TCP, UDP):
            port_off, lc_off = l4 + (0 if inbound else 2), l4 + (6 if udp else 16)
        else:
            port_off, lc_off, pseudo = l4 + 4, l4 + 2, not v4
        oldp = bytes(buf[port_off : port_off + 2])
        buf[port_off : port_off + 2] = newp
        ic = update(ic, oldp, newp)
        if lc_off + 2 <= p.ip_end:
            oldc = _get16(buf, lc_off)
            if not (udp and oldc == 0):
                c = oldc
                if pseudo:
                    c = update(c, old, new)
                c = update(c, oldp, newp)
                if udp and c == 0:
                    c = 0xFFFF
                _put16(buf, lc_off, c)
                ic = update(ic, oldc.to_bytes(2, "big"), c.to_bytes(2, "big"))
        _put16(buf, ic_off, ic)
        if v4:
            off = p.l3_off + (16 if inbound else 12)
            o = bytes(buf[off : off + 4])
            buf[off : off + 4] = addr[12:]
            _put16(buf, p.l3_off + 10, update(_get16(buf, p.l3_off + 10), o, addr[12:]))
        else:
            off = p.l3_off + (24 if inbound else 8)
            o = bytes(buf[off : off + 16])
            buf[off : off + 16] = addr
            _put16(buf, ic_off, l4_update(_get16(buf, ic_off), o, addr, CSUM_TCP))

    def _alloc(self, rk: RevKey, rv: RevVal, h: int, icmp: bool) -> int:
        """``nat_alloc``."""
        lo, hi = self.config.ports
        span = hi - lo + 1
        for i in range(NAT_TRIES):
            port = rv.port if i == 0 and lo <= rv.port <= hi else lo + ((h + i) & 0xFFFFFFFF) % span
            key = replace(rk, xport=port, rport=port if icmp else rk.rport)
            cur = self.rev.get(key)
            if cur is None:
                self.rev[key] = rv
                return port
            if cur == rv:
                return port
        return -1

    # --- outbound ---------------------------------------------------------------------------------
    def _out(self, p: Parsed, buf: bytearray) -> Verdict:
        if p.frag & Frag.LATER:
            if self._snat_source(p):
                self._rewrite(p, buf, False, self._me(p), 0, False)
                self._count("frag_out")
            return Verdict.CONTINUE
        if is_icmp_error(p):
            return self._out_icmp_error(p, buf)
        t = None
        if p.l4_proto in (TCP, UDP) or self._is_icmp(p):
            t = tuple_of(p, bytes(buf))
        if t is None:
            if self._snat_source(p):
                self._count("untranslatable")
                return Verdict.DROP
            return Verdict.CONTINUE
        found = self.ct.lookup(t)
        if found is not None:
            e, d = found
            self.ct.update(e, d, t, len(buf))
            if (e.nat.kind == NatKind.SNAT and d == Dir.ORIG) or (
                e.nat.kind == NatKind.DNAT and d == Dir.REPLY
            ):
                self._rewrite(p, buf, False, e.nat.addr, e.nat.port, True)
                self._count("out_translated")
            return Verdict.CONTINUE
        if not self._snat_source(p):
            return Verdict.CONTINUE
        return self._snat_new(p, buf, t)

    def _snat_new(self, p: Parsed, buf: bytearray, t: Tuple) -> Verdict:
        icmp = self._is_icmp(p)
        if (icmp and not is_echo_request(p.family, p.icmp_type)) or (
            p.l4_proto == TCP and p.tcp_flags & TCP_RST
        ):
            self._count("untranslatable")
            return Verdict.DROP
        (src, sport), (dst, dport) = t.key.endpoint(t.src), t.key.endpoint(t.src ^ 1)
        me = self._me(p)
        rk = RevKey(raddr=dst, xaddr=me, rport=dport, xport=0, proto=p.l4_proto)
        rv = RevVal(src, sport, NatKind.SNAT)
        port = self._alloc(rk, rv, port_hash(t.key.pack(), self.config.seed), icmp)
        if port < 0:
            self._count("exhausted")
            return Verdict.DROP
        self.ct.create(t, len(buf), Nat(me, port, NatKind.SNAT), Dir.ORIG)
        self._count("snat_new")
        self._rewrite(p, buf, False, me, port, True)
        self._count("out_translated")
        return Verdict.CONTINUE

    def _out_icmp_error(self, p: Parsed, buf: bytearray) -> Verdict:
        inner = inner_of(p, bytes(buf))
        if inner is not None:
            found = self.ct.lookup(inner.tuple)
            if found is not None:
                e, d = found
                if (e.nat.kind == NatKind.SNAT and d == Dir.REPLY) or (
                    e.nat.kind == NatKind.DNAT and d == Dir.ORIG
                ):
                    self.ct._count("related")
                    self._icmp_xlate(p, buf, inner, False, e.nat.addr, e.nat.port)
                    self._count("icmp_errors")
                    return Verdict.CONTINUE
        if self._snat_source(p):
            self._count("untranslatable")
            return Verdict.DROP
        return Verdict.CONTINUE

    # --- inbound ----------------------------------------------------------------------------------
    def _in(self, p: Parsed, buf: bytearray) -> Verdict:
        if p.daddr != self._me(p):
            return Verdict.CONTINUE
        if p.frag & Frag.LATER:
            self._count("frag_in")
            return Verdict.CONTINUE
        if is_icmp_error(p):
            return self._in_icmp_error(p, buf)
        icmp = self._is_icmp(p)
        if p.l4_proto in (TCP, UDP):
            sport, dport = p.sport, p.dport
        elif (
            p.has(Layer.L4)
            and icmp
            and is_echo(p.family, p.icmp_type)
            and not is_echo_request(p.family, p.icmp_type)
        ):
            sport = dport = _get16(buf, p.l4_off + 4)
        else:
            self._count("unmatched_in")
            return Verdict.CONTINUE
        rk = RevKey(raddr=p.saddr, xaddr=p.daddr, rport=sport, xport=dport, proto=p.l4_proto)
        v = self.rev.get(rk)
        if v is None:
            return self._dnat_new(p, buf, rk)
        t = tuple_from(p.saddr, v.port if icmp else sport, v.addr, v.port, p.l4_proto, p.tcp_flags)
        found = self.ct.lookup(t)
        if found is not None:
            e, d = found
            self.ct.update(e, d, t, len(buf))
        else:
            d = Dir.REPLY if v.kind == NatKind.SNAT else Dir.ORIG
            if self.ct.create(t, len(buf), Nat(p.daddr, dport, v.kind), d) == 0:
                self._count("restored")
        self._rewrite(p, buf, True, v.addr, v.port, True)
        self._count("in_translated")
        return Verdict.CONTINUE

    def _in_icmp_error(self, p: Parsed, buf: bytearray) -> Verdict:
        inner = inner_of(p, bytes(buf))
        if inner is None:
            self._count("unmatched_in")
            return Verdict.CONTINUE
        rk = RevKey(
            raddr=inner.daddr, xaddr=inner.saddr, rport=inner.dport, xport=inner.sport, proto=inner.proto
        )
        v = self.rev.get(rk)
        if v is None:
            self._count("unmatched_in")
            return Verdict.CONTINUE
        self._icmp_xlate(p, buf, inner, True, v.addr, v.port)
        self._count("icmp_errors")
        return Verdict.CONTINUE

    def _dnat_new(self, p: Parsed, buf: bytearray, rk: RevKey) -> Verdict:
        if p.l4_proto not in (TCP, UDP) or (p.l4_proto == TCP and p.tcp_flags & TCP_RST):
            self._count("unmatched_in")
            return Verdict.CONTINUE
        rule = self._dnat.get((rk.xport, p.l4_proto, int(p.family)))
        if rule is None:
            self._count("unmatched_in")
            return Verdict.CONTINUE
        rv = RevVal(rule[0], rule[1], NatKind.DNAT)
        self.rev.setdefault(rk, rv)
        t = tuple_from(p.saddr, p.sport, rv.addr, rv.port, p.l4_proto, p.tcp_flags)
        err = self.ct.create(t, len(buf), Nat(rk.xaddr, rk.xport, NatKind.DNAT), Dir.ORIG)
        if err == ConntrackModel.EEXIST:
            e = self.ct.entries[t.key]
            self.ct.update(e, e.direction(t), t, len(buf))
        elif err == 0:
            self._count("dnat_new")
        self._rewrite(p, buf, True, rv.addr, rv.port, True)
        self._count("in_translated")
        return Verdict.CONTINUE

    # --- comparison with the kernel ---------------------------------------------------------------
    def state_diff(self, instance: VnfInstance) -> list[str]:
        return self.diff_maps(instance.maps)

    def diff_maps(self, maps: dict[str, Any]) -> list[str]:
        """Conntrack table, reverse bindings and counters against the kernel's maps."""
        exact = (
            len(self.ct.entries) < self.config.table_size // 2 and len(self.rev) < self.config.table_size // 2
        )
        diffs = self.ct.state_diff(maps, exact=exact)
        kernel = read_bindings(maps)
        for key, val in kernel.items():
            want = self.rev.get(key)
            if want != val:
                diffs.append(f"binding {key}: kernel {val}, model {want}")
        if exact:
            diffs += [f"model binding {k} not in the kernel" for k in self.rev.keys() - kernel.keys()]
            stats = read_nat_stats(maps["nat_stats"])
            diffs += [
                f"nat_stats.{name}: kernel {stats[name]}, model {self.stats[name]}"
                for name in NAT_STATS
                if stats[name] != self.stats[name]
            ]
        return diffs
