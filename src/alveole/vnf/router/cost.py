"""The router's rows for ``alveole bench pktcost``.

``router-10k-routes``: table mode, XDP, 10,000 random IPv4 routes inside 198.18.0.0/15
(lengths /16 to /32; a /15 holds 512 /24s, so most routes are longer than /24 and most
lookups walk all three levels: the table's worst case) over 64 next hops; the frames go
to 1024 destinations drawn inside 1024 different routes.
``router-10k-routes-ipv6``: the same with 10,000 IPv6 routes inside 2001:db8::/32
(/33 to /64, and /128 hosts). ``router-lpm-trie-10k``: the kernel's LPM trie holding the same
10,000 IPv4 routes, looked up by a minimal program: the structure the table replaces.
``router-fib-10k``: fib mode, the same 10,000 IPv4 routes installed in a scratch
namespace's kernel FIB (bpf_fib_lookup() with a neighbour hit).

Next hops point at a veth of a scratch ``alv`` namespace, where the maps are written
(a devmap holds devices of the namespace it is written from); BPF_PROG_TEST_RUN never
transmits.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...system import netns
from ..csum import checksum
from ..instance import VnfInstance
from ..spec import CostCase, CostRow

__all__ = ["cost_rows", "frame_to", "random_routes4", "random_routes6"]

ROUTES = 10_000
FRAMES = 1024
NEXTHOPS = 64
_LENGTHS4 = [16, 18, 20, 22, 23, 24, 24, 24, 25, 26, 27, 28, 28, 29, 30, 30, 31, 32, 32, 32]
_NET4 = ipaddress.IPv4Network("198.18.0.0/15")
_LINK4 = ipaddress.IPv4Network("198.18.0.0/24")  # the scratch link: kept free of routes
_LENGTHS6 = [33, 36, 40, 44, 48, 48, 48, 52, 56, 56, 60, 64, 64, 64, 128]
_BASE6 = int(ipaddress.IPv6Address("2001:db8::"))
MAC_SRC, MAC_ROUTER = "02:00:00:00:00:01", "02:00:00:00:00:fe"
SRC4, SRC6 = ipaddress.IPv4Address("198.18.0.1"), ipaddress.IPv6Address("2001:db8::1")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LPM_PROBE = Path(__file__).with_name("lpm_probe.bpf.c")


def random_routes4(n: int = ROUTES, seed: int = 1) -> list[ipaddress.IPv4Network]:
    """``n`` distinct random prefixes inside 198.18.0.0/15, none inside 198.18.0.0/24 (seeded)."""
    rng, out = random.Random(seed), set()
    base = int(_NET4.network_address)
    while len(out) < n:
        plen = rng.choice(_LENGTHS4)
        addr = base | (rng.getrandbits(17) & (((1 << (plen - 15)) - 1) << (32 - plen)))
        net = ipaddress.IPv4Network((addr, plen))
        if not net.subnet_of(_LINK4):
            out.add(net)
    return sorted(out)


def random_routes6(n: int = ROUTES, seed: int = 1) -> list[ipaddress.IPv6Network]:
    """``n`` distinct random prefixes inside 2001:db8::/32 (seeded)."""
    rng, out = random.Random(seed), set()
    while len(out) < n:
        plen = rng.choice(_LENGTHS6)
        addr = _BASE6 | (rng.getrandbits(96) & (((1 << (plen - 32)) - 1) << (128 - plen)))
        out.add(ipaddress.IPv6Network((addr, plen)))
    return sorted(out)


def frame_to(dst: ipaddress.IPv4Address | ipaddress.IPv6Address, size: int = 64, ttl: int = 64) -> bytes:
    """A UDP frame to ``dst`` from 198.18.0.1 / 2001:db8::1: ``size`` bytes (at least 64), valid checksums."""
    eth = bytes.fromhex((MAC_ROUTER + MAC_SRC).replace(":", ""))
    src = SRC4 if dst.version == 4 else SRC6
    payload = bytes(max(size - 14 - (20 if dst.version == 4 else 40) - 8, 18))
    udp = bytearray(b"\x04\x00\x00\x09" + (8 + len(payload)).to_bytes(2, "big") + b"\x00\x00" + payload)
    pseudo = src.packed + dst.packed + b"\x00\x11" + len(udp).to_bytes(2, "big")
    udp[6:8] = (checksum(pseudo + bytes(udp)) or 0xFFFF).to_bytes(2, "big")
    if dst.version == 4:
        ip = bytearray(
            b"\x45\x00"
            + (20 + len(udp)).to_bytes(2, "big")
            + b"\x00\x01\x00\x00"
            + bytes([ttl])
            + b"\x11\x00\x00"
        )
        ip += src.packed + dst.packed
        ip[10:12] = checksum(bytes(ip)).to_bytes(2, "big")
        return eth + b"\x08\x00" + bytes(ip) + bytes(udp)
    ip6 = b"\x60\x00\x00\x00" + len(udp).to_bytes(2, "big") + b"\x11" + bytes([ttl]) + src.packed + dst.packed
    return eth + b"\x86\xdd" + ip6 + bytes(udp)


def _inside(net: ipaddress.IPv4Network | ipaddress.IPv6Network, rng: random.Random) -> Address:
    return net.network_address + rng.randrange(net.num_addresses)


# test_run repeats a frame on the bytes the last repetition left: the router decrements
# the TTL in place, so the frames start at 255 and no frame runs more than MAX_REPEAT
# times in a row (the forwarding path is measured, never the TTL-expired one)
COST_TTL = 255
MAX_REPEAT = 200


def _frames(routes: list, seed: int = 2) -> list[bytes]:
    rng = random.Random(seed)
    return [frame_to(_inside(net, rng), ttl=COST_TTL) for net in rng.sample(routes, FRAMES)]


def _table_config(routes: list, ifindex: int) -> dict:
    nexthops = {
        i: {"ifindex": ifindex, "mac": f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}", "src_mac": MAC_ROUTER}
        for i in range(1, NEXTHOPS + 1)
    }
    return {
        "nexthops": nexthops,
        "routes": [{"to": str(net), "via": 1 + i % NEXTHOPS} for i, net in enumerate(routes)],
    }


@contextmanager
def _scratch_port() -> Iterator[tuple[str, int]]:
    """A namespace with a veth whose ifindex next hops can name: (netns, ifindex)."""
    with netns.scratch("alvrc") as ns:
        netns.add_veth(ns, "alvrc0", "alvrc1", ipv6=False)
        yield ns, netns.ifindex("alvrc0", ns)


@contextmanager
def _table(routes: list) -> Iterator[CostCase]:
    with _scratch_port() as (ns, ifindex):
        with netns.enter(ns):
            inst = VnfInstance.load("router", "xdp", _table_config(routes, ifindex))
        with inst:
            yield CostCase(inst.program, _frames(routes), "xdp", max_repeat=MAX_REPEAT)


@contextmanager
def _lpm_trie(routes: list) -> Iterator[CostCase]:
    from ...toolchain import open_source

    with open_source(LPM_PROBE) as obj:
        obj.load()
        trie = obj.map("lpm_routes")
        trie.update_batch(routes, [1 + i % NEXTHOPS for i in range(len(routes))])
        yield CostCase(obj.program("lpm_probe"), _frames(routes), "xdp")


def _install_routes(ns: str, dev: str, routes: list) -> None:
    """Forwarding on, 198.18.0.1/24 on ``dev``, 198.18.0.2 a permanent neighbour, ``routes`` via it."""
    from pyroute2 import NetNS

    netns.set_sysctl(ns, "net.ipv4.conf.all.forwarding", 1)
    with NetNS(ns, flags=0) as ipr:
        idx = ipr.link_lookup(ifname=dev)[0]
        ipr.addr("add", index=idx, address="198.18.0.1", prefixlen=24)
        ipr.neigh("replace", dst="198.18.0.2", lladdr="02:00:00:00:00:02", ifindex=idx, state="permanent")
        for net in routes:
            ipr.route("add", dst=str(net), gateway="198.18.0.2", oif=idx)


@contextmanager
def _fib(routes: list) -> Iterator[CostCase]:
    with _scratch_port() as (ns, ifindex):
        _install_routes(ns, "alvrc0", routes)
        with netns.enter(ns):
            inst = VnfInstance.load("router", "xdp", {"mode": "fib", "ports": [ifindex]})
            with inst:
                # the frames arrive on lo in BPF_PROG_TEST_RUN: the FIB is this namespace's
                yield CostCase(inst.program, _frames(routes), "xdp", max_repeat=MAX_REPEAT)


def cost_rows() -> list[CostRow]:
    note = f"XDP, {ROUTES} random routes, {FRAMES} destinations cycled"
    return [
        CostRow("router-10k-routes", lambda: _table(random_routes4()), note + " (IPv4, table)"),
        CostRow("router-10k-routes-ipv6", lambda: _table(random_routes6()), note + " (IPv6 in /32, table)"),
        CostRow(
            "router-lpm-trie-10k",
            lambda: _lpm_trie(random_routes4()),
            note + " (kernel LPM trie, lookup only)",
        ),
        CostRow("router-fib-10k", lambda: _fib(random_routes4()), note + " (IPv4, fib: kernel FIB)"),
    ]
