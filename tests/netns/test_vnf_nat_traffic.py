"""The NAT with real traffic: HTTP clients and servers in namespaces, through a NAT box.

    client (inside)                     nat (forwarding)                      server (outside)
    alveth0 198.18.1.2/24  ---  alvin0 198.18.1.1/24 | alvout0 198.19.0.1/24  ---  alveth0 198.19.0.2/24
            2001:db8:1::2/64         2001:db8:1::1/64 | 2001:db8:ffff::1/64          2001:db8:ffff::2/64

The server has no route back to the inside: without the NAT, replies never come back.
The NAT runs on alvout0 (the outside interface): TC ingress + egress, or XDP in + TC out.
With checksum offload off on the end hosts, the receiving stacks verify every checksum
the NAT rewrote (on veth, offloaded packets would stay CHECKSUM_PARTIAL and unverified).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from alveole import lab
from alveole.conntrack import State
from alveole.system import netns as ns_mod
from alveole.vnf.nat import NatGateway

from .trio import client_node_server

CLIENT4, NAT_IN4, NAT4, SERVER4 = "198.18.1.2", "198.18.1.1", "198.19.0.1", "198.19.0.2"
CLIENT6, NAT_IN6, NAT6, SERVER6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:ffff::1", "2001:db8:ffff::2"
PAGE = b"<html>alveole NAT test page</html>\n"


@dataclass(frozen=True)
class NatLab:
    name: str
    client: str
    nat: str
    server: str
    outside: str = "alvout0"
    eth: str = "alveth0"


def _topology(name: str) -> lab.Topology:
    return client_node_server(
        name,
        "NAT test: client - nat - server",
        "nat",
        client=(CLIENT4, CLIENT6),
        node_in=(NAT_IN4, NAT_IN6),
        node_out=(NAT4, NAT6),
        server=(SERVER4, SERVER6),
        server_routes=False,  # no route to the inside on purpose
    )


@pytest.fixture
def natlab() -> Iterator[NatLab]:
    topo = _topology(f"nat{os.getpid() % 100000}{secrets.token_hex(2)}")
    lab.up(topo)
    try:
        yield NatLab(topo.name, topo.netns("client"), topo.netns("nat"), topo.netns("server"))
    finally:
        lab.down(topo.name)


def _exec(ns: str, *argv: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def _offload_off(ns: str, iface: str) -> None:
    """Checksums computed by the sender's stack, verified by the receiver's (see the module doc)."""
    proc = _exec(ns, "ethtool", "-K", iface, "tx", "off")
    assert proc.returncode == 0, proc.stderr


@dataclass
class HttpServer:
    proc: subprocess.Popen[str]
    log: str = ""

    def sources(self) -> list[str]:
        """Client addresses of the requests the server logged."""
        return re.findall(r'^(\S+) - - \[.*?\] "GET ', self.log, re.M)


@contextmanager
def http_server(ns: str, bind: str, port: int, directory: Path) -> Iterator[HttpServer]:
    """``python -m http.server`` bound to ``bind`` in ``ns``; stopped (and its log read) afterwards."""
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            bind,
            "--directory",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = HttpServer(proc)
    try:
        _wait_listening(ns, bind, port, proc)
        yield server
    finally:
        proc.terminate()
        try:
            _, server.log = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, server.log = proc.communicate()


def _wait_listening(ns: str, addr: str, port: int, proc: subprocess.Popen[str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"http.server exited: {proc.stderr.read() if proc.stderr else ''}")
        with ns_mod.enter(ns), socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex((addr, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"http.server on {addr}:{port} in {ns} did not start")


def _curl(ns: str, url: str) -> bytes:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "curl", "-sS", "-g", "--max-time", "5", url],
        capture_output=True,
        timeout=15,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(PAGE)
    (tmp_path / "big.bin").write_bytes(os.urandom(256 * 1024))  # many segments, both directions busy
    return tmp_path


@pytest.mark.parametrize(
    ("family", "inbound", "offload"),
    [(4, "tc", True), (4, "tc", False), (4, "xdp", False), (6, "tc", False)],
    ids=["v4-tc-offload", "v4-tc-verified", "v4-xdp-verified", "v6-tc-verified"],
)
def test_http_client_reaches_server_through_masquerade(
    natlab: NatLab, site: Path, family: int, inbound: str, offload: bool
) -> None:
    server_addr = SERVER4 if family == 4 else SERVER6
    nat_addr = NAT4 if family == 4 else NAT6
    host = server_addr if family == 4 else f"[{server_addr}]"
    config = {
        "address": NAT4,
        "address6": NAT6,
        "snat": ["198.18.1.0/24", "2001:db8:1::/64"],
        "ports": (20000, 29999),
    }
    if not offload:
        _offload_off(natlab.client, natlab.eth)
        _offload_off(natlab.server, natlab.eth)
    # without the NAT the server cannot answer: its replies have no route back
    with http_server(natlab.server, server_addr, 8000, site):
        proc = _exec(natlab.client, "curl", "-sS", "-g", "--max-time", "2", f"http://{host}:8000/")
        assert proc.returncode != 0
    with (
        NatGateway(natlab.outside, config, netns=natlab.nat, inbound=inbound) as gw,  # type: ignore[arg-type]
        http_server(natlab.server, server_addr, 8000, site) as srv,
    ):
        assert _curl(natlab.client, f"http://{host}:8000/") == PAGE
        assert _curl(natlab.client, f"http://{host}:8000/big.bin") == (site / "big.bin").read_bytes()
        flows = [c for c in gw.connections() if c.proto == 6 and c.dport == 8000]
        stats = gw.stats()
    # the server saw the NAT's address, never the client's
    assert srv.sources() and set(srv.sources()) == {nat_addr}
    assert len(flows) >= 2  # one TCP connection per curl (some may be closed and gone)
    for f in flows:
        assert str(f.src) == (CLIENT4 if family == 4 else CLIENT6)
        assert str(f.nat_addr) == nat_addr and 20000 <= f.nat_port <= 29999
        assert f.packets[0] > 0 and f.packets[1] > 0
        assert f.state in (State.TIME_WAIT, State.FIN_WAIT, State.CLOSE_WAIT, State.CLOSE, State.ESTABLISHED)
    assert stats["snat_new"] >= 2 and stats["out_translated"] > 0 and stats["in_translated"] > 0
    assert stats["exhausted"] == 0 and stats["untranslatable"] == 0


def test_port_forwarding_reaches_an_inside_server(natlab: NatLab, site: Path) -> None:
    config = {
        "address": NAT4,
        "snat": ["198.18.1.0/24"],
        "forward": [{"proto": "tcp", "port": 8080, "to": CLIENT4, "to_port": 8000}],
    }
    _offload_off(natlab.client, natlab.eth)
    _offload_off(natlab.server, natlab.eth)
    with (
        NatGateway(natlab.outside, config, netns=natlab.nat) as gw,
        http_server(natlab.client, CLIENT4, 8000, site) as inside,
    ):
        # the outside host reaches the inside server through the NAT's address
        assert _curl(natlab.server, f"http://{NAT4}:8080/") == PAGE
        flows = [c for c in gw.connections() if c.proto == 6]
        stats = gw.stats()
    assert set(inside.sources()) == {SERVER4}  # DNAT keeps the real source
    [flow] = flows
    assert (str(flow.src), str(flow.dst), flow.dport) == (SERVER4, CLIENT4, 8000)
    assert (str(flow.nat_addr), flow.nat_port, flow.nat_kind.name) == (NAT4, 8080, "DNAT")
    assert stats["dnat_new"] == 1 and stats["in_translated"] > 0 and stats["out_translated"] > 0


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ping(ns: str, family: int, dst: str, ident: int, count: int = 3) -> list[tuple[str, int, int]]:
    """Echo requests from a raw socket in ``ns``: (source, identifier, sequence) of each reply."""
    replies = []
    fam, proto, request, reply = (
        (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0)
        if family == 4
        else (socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129)
    )
    with ns_mod.enter(ns), socket.socket(fam, socket.SOCK_RAW, proto) as s:
        s.settimeout(2)
        for seq in range(1, count + 1):
            body = struct.pack("!BBHHH", request, 0, 0, ident, seq) + b"alveole"
            if family == 4:  # ICMPv6 raw sockets get their checksum from the kernel
                body = body[:2] + struct.pack("!H", _icmp_checksum(body)) + body[4:]
            s.sendto(body, (dst, 0))
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                data, addr = s.recvfrom(2048)
                msg = data[(data[0] & 0x0F) * 4 :] if family == 4 else data
                if msg[0] == reply:
                    _, _, _, rid, rseq = struct.unpack("!BBHHH", msg[:8])
                    if rid == ident and rseq == seq:
                        replies.append((addr[0], rid, rseq))
                        break
    return replies


@pytest.mark.parametrize("family", [4, 6])
def test_icmp_echo_through_nat(natlab: NatLab, family: int) -> None:
    config = {
        "address": NAT4,
        "address6": NAT6,
        "snat": ["198.18.1.0/24", "2001:db8:1::/64"],
        "ports": (30000, 30099),
    }
    dst = SERVER4 if family == 4 else SERVER6
    with NatGateway(natlab.outside, config, netns=natlab.nat) as gw:
        replies = _ping(natlab.client, family, dst, ident=4242)
        flows = [c for c in gw.connections() if c.proto in (1, 58)]
        stats = gw.stats()
    # the identifier came back as the client sent it (translated on the way out and back)
    assert replies == [(dst, 4242, seq) for seq in (1, 2, 3)]
    [flow] = flows
    assert flow.state == State.ICMP_REPLIED and flow.packets == (3, 3)
    assert 30000 <= flow.nat_port <= 30099
    assert stats["snat_new"] == 1 and stats["in_translated"] == 3


def test_icmp_error_from_the_remote_reaches_the_client(natlab: NatLab) -> None:
    """UDP to a closed port: the server's port unreachable is translated back (outer and quoted headers)."""
    config = {"address": NAT4, "snat": ["198.18.1.0/24"]}
    _offload_off(natlab.client, natlab.eth)
    _offload_off(natlab.server, natlab.eth)
    with NatGateway(natlab.outside, config, netns=natlab.nat) as gw, ns_mod.enter(natlab.client):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.bind((CLIENT4, 0))
            s.connect((SERVER4, 9))  # nothing listens there
            s.send(b"anyone?")
            # a connected UDP socket reports the ICMP error it received for its own flow
            with pytest.raises(ConnectionRefusedError):
                s.recv(100)
        stats = gw.stats()
    assert stats["icmp_errors"] == 1 and stats["snat_new"] == 1


def test_gc_removes_dead_flows_and_their_bindings(natlab: NatLab) -> None:
    config = {"address": NAT4, "snat": ["198.18.1.0/24"], "timeouts": {"udp": 1}}
    with NatGateway(natlab.outside, config, netns=natlab.nat) as gw, ns_mod.enter(natlab.client):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for port in range(5000, 5010):
                s.sendto(b"x", (SERVER4, port))
        deadline = time.monotonic() + 2
        while len(gw.bindings()) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(gw.connections()) == 10 and len(gw.bindings()) == 10
        assert gw.gc().deleted == 0  # not idle long enough yet
        from alveole.conntrack.table import coarse_now_ns

        result = gw.gc(now=coarse_now_ns() + 5 * 10**9)
        assert result.deleted == 10
        assert gw.connections() == [] and gw.bindings() == []
