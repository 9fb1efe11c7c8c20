"""router under real traffic: client - router - server, UDP and ICMP, IPv4 and IPv6, both modes.

The router namespace runs the VNF on both of its interfaces. The receiving stacks are
the judges: a UDP socket in the server gets the datagrams (so the IPv4 header checksum
the router patched is right), with the TTL / hop limit one less; echo requests get their
replies back through the router. In table mode the kernel's own forwarding is off, so
whatever crosses the router was forwarded by the VNF; fib mode needs it on (the FIB
lookup checks it) and the VNF's counters show that it did the forwarding.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alveole import lab
from alveole.bpf import Link
from alveole.system import netns as ns_mod
from alveole.trafficgen import Receiver
from alveole.vnf import Verdict, VnfInstance
from alveole.vnf.csum import checksum
from alveole.vnf.router import PassReason, RouterConfig, pass_counts, table_from_netns

CLIENT_MAC, SERVER_MAC = "02:00:00:0c:00:01", "02:00:00:0c:00:02"
R_CLIENT_MAC, R_SERVER_MAC = "02:00:00:0c:01:01", "02:00:00:0c:01:02"
CLIENT4, SERVER4, CLIENT6, SERVER6 = "198.18.1.1", "198.18.2.1", "2001:db8:1::1", "2001:db8:2::1"
COUNT = 20
IP_RECVTTL = 12  # linux/in.h (not in the socket module); the cmsg type is IP_TTL


@dataclass(frozen=True)
class Crs:
    client: str
    router: str
    server: str
    router_ifs: tuple[str, str]
    host_if: str  # the client's and the server's interface name


def _topology(name: str) -> lab.Topology:
    neighbours = [
        {"address": CLIENT4, "mac": CLIENT_MAC, "dev": "c0"},
        {"address": CLIENT6, "mac": CLIENT_MAC, "dev": "c0"},
        {"address": SERVER4, "mac": SERVER_MAC, "dev": "s0"},
        {"address": SERVER6, "mac": SERVER_MAC, "dev": "s0"},
    ]
    return lab.Topology.model_validate(
        {
            "name": name,
            "hosts": {
                "client": {
                    "routes": [
                        {"to": "default", "via": "198.18.1.254"},
                        {"to": "default", "via": "2001:db8:1::fe"},
                    ]
                },
                "router": {"forwarding": True, "neighbors": neighbours},
                "server": {
                    "routes": [
                        {"to": "default", "via": "198.18.2.254"},
                        {"to": "default", "via": "2001:db8:2::fe"},
                    ]
                },
            },
            "links": [
                {
                    "ends": [
                        {
                            "host": "client",
                            "ifname": "eth0",
                            "mac": CLIENT_MAC,
                            "addresses": ["198.18.1.1/24", "2001:db8:1::1/64"],
                            "tx_checksum": False,  # complete checksums through XDP redirects
                        },
                        {
                            "host": "router",
                            "ifname": "c0",
                            "mac": R_CLIENT_MAC,
                            "addresses": ["198.18.1.254/24", "2001:db8:1::fe/64"],
                        },
                    ]
                },
                {
                    "ends": [
                        {
                            "host": "router",
                            "ifname": "s0",
                            "mac": R_SERVER_MAC,
                            "addresses": ["198.18.2.254/24", "2001:db8:2::fe/64"],
                        },
                        {
                            "host": "server",
                            "ifname": "eth0",
                            "mac": SERVER_MAC,
                            "addresses": ["198.18.2.1/24", "2001:db8:2::1/64"],
                            "tx_checksum": False,
                        },
                    ]
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def crs() -> Iterator[Crs]:
    if os.geteuid() != 0:
        pytest.skip("needs root")  # the autouse root fixture fails or skips each test first
    topo = _topology(f"rt{os.getpid() % 100000}-{secrets.token_hex(2)}")
    lab.up(topo)
    try:
        yield Crs(
            topo.netns("client"), topo.netns("router"), topo.netns("server"), ("alvc0", "alvs0"), "alveth0"
        )
    finally:
        lab.down(topo.name)


@contextlib.contextmanager
def _forwarding(ns: str, on: bool) -> Iterator[None]:
    keys = ("net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding")
    for k in keys:
        ns_mod.set_sysctl(ns, k, int(on))
    try:
        yield
    finally:
        for k in keys:
            ns_mod.set_sysctl(ns, k, 1)


@contextlib.contextmanager
def _router(crs: Crs, mode: str, hook: str) -> Iterator[VnfInstance]:
    """The router VNF on both router interfaces (and, for XDP, pass-through XDP on the hosts'
    interfaces: a veth delivers redirected frames only to a peer with an XDP program)."""
    with ns_mod.enter(crs.router):  # devmap entries resolve ifindexes in the writer's namespace
        if mode == "table":
            cfg = table_from_netns(None)
        else:
            cfg = RouterConfig(mode="fib", ports=tuple(ns_mod.ifindex(i) for i in crs.router_ifs))
        inst = VnfInstance.load("router", hook, cfg)
    links: list[Link] = []
    receivers = []
    try:
        for iface in crs.router_ifs:
            if hook == "xdp":
                links.append(inst.program.attach_xdp(iface, mode="native", netns=crs.router))
            else:
                links.append(inst.program.attach_tc(iface, direction="ingress", netns=crs.router))
        if hook == "xdp":
            for ns in (crs.client, crs.server):
                receivers.append(Receiver(crs.host_if, netns=ns, drop=False).open())
        yield inst
    finally:
        for link in links:
            link.close()
        for r in receivers:
            r.close()
        inst.close()


def _udp_socket(ns: str, family: int, addr: str, port: int) -> socket.socket:
    with ns_mod.enter(ns):
        s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    s.bind((addr, port))
    return s


def _recv_with_ttl(s: socket.socket) -> tuple[bytes, int, tuple]:
    data, anc, _flags, peer = s.recvmsg(2048, socket.CMSG_SPACE(4))
    ttl = next(
        struct.unpack("i", d[:4])[0]
        for level, kind, d in anc
        if kind in (socket.IP_TTL, socket.IPV6_HOPLIMIT)
    )
    return data, ttl, peer


def _udp_round_trips(crs: Crs, family: int) -> None:
    c_addr, s_addr = (CLIENT4, SERVER4) if family == socket.AF_INET else (CLIENT6, SERVER6)
    port = 20000 + secrets.randbelow(20000)
    with (
        _udp_socket(crs.server, family, s_addr, port) as srv,
        _udp_socket(crs.client, family, c_addr, 0) as cli,
    ):
        for i in range(COUNT):
            msg = f"datagram {i}".encode()
            cli.sendto(msg, (s_addr, port))
            data, ttl, peer = _recv_with_ttl(srv)
            assert (data, ttl) == (msg, 63)  # the client sent with 64: one router on the way
            srv.sendto(data.upper(), peer)
            back, ttl, _ = _recv_with_ttl(cli)
            assert (back, ttl) == (msg.upper(), 63)


def _ping(crs: Crs, family: int) -> None:
    """ICMP echo through the router with raw sockets; the replies come back with TTL 63."""
    dst = SERVER4 if family == socket.AF_INET else SERVER6
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    with ns_mod.enter(crs.client):
        s = socket.socket(family, socket.SOCK_RAW, proto)
    with s:
        s.settimeout(2.0)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        ident = secrets.randbelow(0xFFFF)
        for seq in range(COUNT):
            kind = 8 if family == socket.AF_INET else 128
            body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + b"alveole"
            if family == socket.AF_INET:  # the kernel computes ICMPv6 checksums for raw sockets
                body = body[:2] + checksum(body).to_bytes(2, "big") + body[4:]
            s.sendto(body, (dst, 0))
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                data, anc, _f, _peer = s.recvmsg(2048, socket.CMSG_SPACE(4))
                if family == socket.AF_INET:
                    ttl, icmp = data[8], data[(data[0] & 0x0F) * 4 :]
                else:
                    ttl, icmp = struct.unpack("i", anc[0][2][:4])[0], data
                reply = 0 if family == socket.AF_INET else 129
                if icmp[0] == reply and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                    assert ttl == 63
                    break
            else:
                pytest.fail(f"no echo reply {seq} from {dst}")


@pytest.mark.parametrize("hook", ["xdp", "tc"])
@pytest.mark.parametrize("mode", ["table", "fib"])
def test_router_forwards_udp_and_icmp(crs: Crs, mode: str, hook: str) -> None:
    with _forwarding(crs.router, on=mode == "fib"), _router(crs, mode, hook) as r:
        for family in (socket.AF_INET, socket.AF_INET6):
            _udp_round_trips(crs, family)
            _ping(crs, family)
        redirected = r.counters()[Verdict.REDIRECT].packets
        # UDP and ICMP, both ways, both families: 8 * COUNT packets, all by the VNF
        assert redirected == 8 * COUNT
        assert pass_counts(r)[PassReason.TTL][0] == 0


def test_expired_ttl_goes_to_the_kernel(crs: Crs) -> None:
    """TTL 1 from the client: the router passes it up; the kernel answers time exceeded."""
    with _router(crs, "table", "xdp") as r:
        with ns_mod.enter(crs.client):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        with udp, icmp:
            icmp.settimeout(2.0)
            udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
            udp.sendto(b"expiring", (SERVER4, 33434))
            data = icmp.recv(2048)
            icmp_hdr = data[(data[0] & 0x0F) * 4 :]
            assert icmp_hdr[0] == 11  # time exceeded, from the router's kernel
            assert socket.inet_ntoa(data[12:16]) == "198.18.1.254"
        assert pass_counts(r)[PassReason.TTL][0] == 1


def test_router_ends_a_service_chain(crs: Crs, dp) -> None:
    """flowmon -> router on both router interfaces, through the datapath: flowmon sees every
    packet and hands it on; the router's REDIRECT ends the chain."""
    from alveole.datapath import ChainId
    from alveole.datapath.catalog import member_for

    with ns_mod.enter(crs.router):  # the chain writes the router's devmap: from its namespace
        cfg = table_from_netns(None)
        chains = [
            dp.create(
                ChainId(iface, "xdp", crs.router),
                [("mon", member_for("flowmon")), ("rt", member_for("router", cfg))],
            )
            for iface in crs.router_ifs
        ]
    receivers = [Receiver(crs.host_if, netns=ns, drop=False).open() for ns in (crs.client, crs.server)]
    try:
        with _forwarding(crs.router, on=False):
            _udp_round_trips(crs, socket.AF_INET)
            _udp_round_trips(crs, socket.AF_INET6)
        for chain in chains:
            mon, rt = chain.member("mon").counters(), chain.member("rt").counters()
            assert rt["redirect"][0] == 2 * COUNT  # one way through each interface, both families
            assert mon["continue"][0] == rt["redirect"][0] + rt["pass"][0]
    finally:
        for r in receivers:
            r.close()
