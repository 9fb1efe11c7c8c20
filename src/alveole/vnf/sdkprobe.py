"""The SDK probe: ``alv_parse()`` and the checksum helpers run in the kernel, for tests.

``sdkprobe.bpf.c`` stores the C parser's ``struct alv_parsed`` in a map and
rewrites headers with the ``alveole/csum.h`` helpers. :class:`SdkProbe` loads
it and returns the results as :class:`~alveole.vnf.parse.Parsed` values and
bytes, so tests compare them with :func:`~alveole.vnf.parse.parse` and with
:func:`reference_rewrite` (the same rewrite done with :mod:`alveole.vnf.csum`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ..bpf import BpfObject, BtfKind
from ..toolchain import compile_bpf
from . import csum
from .parse import Family, Frag, Layer, Parsed, ParseStatus, mapped, parse
from .verdict import Hook

__all__ = ["PROBE_SOURCE", "Rewrite", "SdkProbe", "reference_rewrite"]

PROBE_SOURCE = Path(__file__).with_name("sdkprobe.bpf.c")


class Rewrite(dict):
    """Fields for the probe's rewrite: saddr, daddr (addresses), sport, dport, ttl, tos (ints).

    Missing or zero fields are left alone. Addresses are stored as 16 bytes
    (IPv4 as ::ffff:a.b.c.d); IPv4 packets take the last four, IPv6 packets
    all sixteen: give addresses of the packet's family.
    """


class SdkProbe:
    """The probe object, loaded (all four entries)."""

    def __init__(self) -> None:
        self.object = BpfObject.open(compile_bpf(PROBE_SOURCE).path, name="sdkprobe")
        try:
            self.object.load()
        except BaseException:
            self.object.close()
            raise

    def parse(self, frame: bytes, hook: Hook = "xdp") -> Parsed:
        """The C parser's result for ``frame``, as a :class:`Parsed`."""
        self.object.program(f"probe_parse_{hook}").run(frame)
        c = self.object.map("probe_parsed")[0]
        return Parsed(
            saddr=c.saddr.b,
            daddr=c.daddr.b,
            len=c.len,
            ip_end=c.ip_end,
            l3_off=c.l3_off,
            l4_off=c.l4_off,
            eth_proto=c.eth_proto,
            vlan_id=list(c.vlan_id),
            sport=c.sport,
            dport=c.dport,
            status=ParseStatus(c.status),
            layers=Layer(c.layers),
            vlan_depth=c.vlan_depth,
            family=Family(c.family),
            l4_proto=c.l4_proto,
            ttl=c.ttl,
            tos=c.tos,
            frag=Frag(c.frag),
            tcp_flags=c.tcp_flags,
            icmp_type=c.icmp_type,
            icmp_code=c.icmp_code,
            ext_count=c.ext_count,
        )

    def rewrite(self, frame: bytes, rw: Rewrite, hook: Hook = "xdp") -> bytes:
        """``frame`` after the C rewrite (checksums patched incrementally)."""
        value = {
            "saddr": {"b": mapped(rw["saddr"])} if rw.get("saddr") else None,
            "daddr": {"b": mapped(rw["daddr"])} if rw.get("daddr") else None,
            "sport": rw.get("sport", 0),
            "dport": rw.get("dport", 0),
            "ttl": rw.get("ttl", 0),
            "tos": rw.get("tos", 0),
        }
        self.object.map("probe_rewrite")[0] = {k: v for k, v in value.items() if v is not None}
        return self.object.program(f"probe_rewrite_{hook}").run(frame).data

    def enums(self) -> dict[str, dict[str, int]]:
        """The SDK's C enums as the compiler saw them (from the object's BTF)."""
        btf = self.object.btf
        assert btf is not None
        out = {}
        for name in ("alv_verdict", "alv_parse_status", "alv_layer", "alv_frag", "alv_family", "alv_l4_csum"):
            t = btf.type(btf.find(name, BtfKind.ENUM))
            out[name] = {m.name: m.value for m in t.members}
        return out

    def close(self) -> None:
        self.object.close()

    def __enter__(self) -> SdkProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:  # noqa: SIM105 (contextlib may be gone at interpreter exit)
            self.close()
        except Exception:
            pass


def _raw(addr: Any) -> bytes:
    """The 16 bytes the probe's map holds for an address (zero when absent)."""
    return mapped(addr) if addr else bytes(16)


def reference_rewrite(frame: bytes, rw: Rewrite) -> bytes:
    """What ``rewrite_body`` in sdkprobe.bpf.c does, with :mod:`alveole.vnf.csum`."""
    p = parse(frame)
    buf = bytearray(frame)
    if not p.has(Layer.IP):
        return frame
    l4csum, kind = None, csum.CSUM_TCP
    if p.has(Layer.L4):
        if p.l4_proto == 6:
            l4csum = p.l4_off + 16
        elif p.l4_proto == 17:
            l4csum, kind = p.l4_off + 6, csum.CSUM_UDP
        elif p.l4_proto == 58:
            l4csum = p.l4_off + 2
    # as the C code: IPv4 packets take the last 4 bytes when non-zero, IPv6 all 16
    saddr, daddr = _raw(rw.get("saddr")), _raw(rw.get("daddr"))
    if p.family == Family.IPV4:
        if rw.get("ttl"):
            csum.ipv4_set_ttl(buf, p.l3_off, rw["ttl"])
        if rw.get("tos"):
            csum.ipv4_set_tos(buf, p.l3_off, rw["tos"])
        if any(saddr[12:]):
            csum.ipv4_set_addr(buf, p.l3_off, "saddr", ipaddress.IPv4Address(saddr[12:]), l4csum, kind)
        if any(daddr[12:]):
            csum.ipv4_set_addr(buf, p.l3_off, "daddr", ipaddress.IPv4Address(daddr[12:]), l4csum, kind)
    else:
        if rw.get("ttl"):
            buf[p.l3_off + 7] = rw["ttl"]
        if any(saddr):
            csum.ipv6_set_addr(buf, p.l3_off, "saddr", ipaddress.IPv6Address(saddr), l4csum, kind)
        if any(daddr):
            csum.ipv6_set_addr(buf, p.l3_off, "daddr", ipaddress.IPv6Address(daddr), l4csum, kind)
    if p.has(Layer.L4) and p.l4_proto in (6, 17):
        if rw.get("sport"):
            csum.l4_set_port(buf, p.l4_off, rw["sport"], l4csum, kind)
        if rw.get("dport"):
            csum.l4_set_port(buf, p.l4_off + 2, rw["dport"], l4csum, kind)
    return bytes(buf)
