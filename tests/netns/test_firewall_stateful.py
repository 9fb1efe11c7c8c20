"""The stateful firewall with real TCP: a client and a server in namespaces, the firewall on the
node between them, on both of its interfaces (XDP chains of one group: one flow table).

    client                          fw (forwarding)                           server
    alveth0 198.18.1.2/24  ---  alvin0 198.18.1.1/24 | alvout0 198.19.0.1/24  ---  alveth0 198.19.0.2/24
            2001:db8:1::2/64         2001:db8:1::1/64 | 2001:db8:2::1/64             2001:db8:2::2/64

Policy: default drop; the client side may open TCP to the server's port 8000 (and IPv6
neighbour discovery passes). The server's answers come back through the flow table, though
no rule allows them; a connection opened from the server side is dropped.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from alveole import lab
from alveole.cli.main import app
from alveole.conntrack import State, connections
from alveole.datapath import ChainId, Datapath
from alveole.datapath.catalog import member_for
from alveole.system import netns as ns_mod
from alveole.vnf.firewall import default_hits, other_counts, rule_hits
from alveole.vnf.firewall.config import FirewallConfig

from .trio import client_node_server

CLIENT4, FW_IN4, FW_OUT4, SERVER4 = "198.18.1.2", "198.18.1.1", "198.19.0.1", "198.19.0.2"
CLIENT6, FW_IN6, FW_OUT6, SERVER6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2"
PORT, OTHER_PORT = 8000, 9000


def _accept(**match: object) -> dict[str, object]:
    return {**match, "action": "accept"}


POLICY = {
    "stateful": True,
    "default": "drop",
    "conntrack_size": 4096,
    "timeouts": {"syn_sent": 5, "close": 2},
    "rules": [
        _accept(id="web4", src="198.18.1.0/24", dst=f"{SERVER4}/32", proto="tcp", dport=PORT),
        _accept(id="web6", src="2001:db8:1::/64", dst=f"{SERVER6}/128", proto="tcp", dport=PORT),
        _accept(id="ns", proto="icmpv6", icmp_type=135),
        _accept(id="na", proto="icmpv6", icmp_type=136),
    ],
}


@dataclass(frozen=True)
class FwLab:
    client: str
    fw: str
    server: str


def _topology(name: str) -> lab.Topology:
    return client_node_server(
        name,
        "stateful firewall test: client - fw - server",
        "fw",
        client=(CLIENT4, CLIENT6),
        node_in=(FW_IN4, FW_IN6),
        node_out=(FW_OUT4, FW_OUT6),
        server=(SERVER4, SERVER6),
    )


@pytest.fixture
def fwlab() -> Iterator[FwLab]:
    topo = _topology(f"fw{os.getpid() % 100000}{secrets.token_hex(2)}")
    lab.up(topo)
    try:
        yield FwLab(topo.netns("client"), topo.netns("fw"), topo.netns("server"))
    finally:
        lab.down(topo.name)


def _listen(ns: str, addr: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with ns_mod.enter(ns):
        s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    s.settimeout(2)
    return s


def _exchange(ns: str, listener: socket.socket, addr: str, port: int, timeout: float) -> bytes:
    """Connect from ``ns``, send a request, read the answer the listener's side writes."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with ns_mod.enter(ns):
        c = socket.socket(family, socket.SOCK_STREAM)
    with c:
        c.settimeout(timeout)
        c.connect((addr, port))
        conn, _ = listener.accept()
        with conn:
            c.sendall(b"ping")
            assert conn.recv(16) == b"ping"
            conn.sendall(b"pong" * 1000)  # several segments back, all answers
            got = b""
            while len(got) < 4000:
                chunk = c.recv(65536)
                if not chunk:
                    break
                got += chunk
        return got


def _refused(ns: str, addr: str, port: int) -> bool:
    """Whether a connection from ``ns`` fails (its SYNs dropped: a timeout)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with ns_mod.enter(ns):
        c = socket.socket(family, socket.SOCK_STREAM)
    with c:
        c.settimeout(0.7)
        try:
            c.connect((addr, port))
        except (TimeoutError, OSError):
            return True
        return False


def test_return_traffic_of_established_flows_is_allowed(fwlab: FwLab, dp: Datapath) -> None:
    cfg = FirewallConfig.model_validate(POLICY)
    members = {}
    for dev in ("alvin0", "alvout0"):
        chain = dp.create(ChainId(dev, "xdp", fwlab.fw), [("fw", member_for("firewall", cfg, group="fw"))])
        members[dev] = chain.member("fw")
    with (
        _listen(fwlab.server, SERVER4, PORT) as srv4,
        _listen(fwlab.server, SERVER6, PORT) as srv6,
        _listen(fwlab.server, SERVER4, OTHER_PORT),  # listening: only the firewall refuses
        _listen(fwlab.client, CLIENT4, PORT),
        _listen(fwlab.client, CLIENT6, PORT),
    ):
        # client -> server:8000 (the rule): the answers come back through the flow table
        assert _exchange(fwlab.client, srv4, SERVER4, PORT, timeout=3) == b"pong" * 1000
        assert _exchange(fwlab.client, srv6, SERVER6, PORT, timeout=3) == b"pong" * 1000
        # the server side opens nothing: same port the other way, and another port
        assert _refused(fwlab.server, CLIENT4, PORT)
        assert _refused(fwlab.server, CLIENT6, PORT)
        assert _refused(fwlab.client, SERVER4, OTHER_PORT)

    # one flow table for both interfaces: the connections, seen from either member
    flows = {(c.family, c.dport): c for c in connections(members["alvin0"].maps) if c.proto == 6}
    assert {(str(c.src), str(c.dst)) for c in flows.values()} == {(CLIENT4, SERVER4), (CLIENT6, SERVER6)}
    for c in flows.values():
        assert c.dport == PORT and c.packets[0] > 1 and c.packets[1] > 1
        assert c.state in (State.ESTABLISHED, State.FIN_WAIT, State.CLOSE_WAIT, State.TIME_WAIT, State.CLOSE)
    assert len(connections(members["alvout0"].maps)) == len(connections(members["alvin0"].maps))

    # counted where: the client side's rules opened the flows, the server side's answers were
    # established packets (its rules never saw them), its own SYNs fell to the default drop
    hits_in = {h.rule.id: h.packets for h in rule_hits(members["alvin0"], cfg)}
    assert hits_in["web4"] >= 1 and hits_in["web6"] >= 1
    assert other_counts(members["alvout0"])["established"][0] > 2
    assert {h.rule.id: h.packets for h in rule_hits(members["alvout0"], cfg)}["web4"] == 0
    assert default_hits(members["alvout0"])[0] >= 2  # the server's SYNs (retransmissions too)
    assert default_hits(members["alvin0"])[0] >= 1  # the client's SYN to port 9000

    # `alveole conntrack show` / `gc` find a firewall chain member's table
    runner = CliRunner()
    sel = ["--chain", "alvin0", "--hook", "xdp", "--netns", fwlab.fw]
    shown = runner.invoke(app, ["conntrack", "show", *sel, "--json", "--proto", "tcp"])
    assert shown.exit_code == 0, shown.output
    [table] = json.loads(shown.output)
    assert table["flows"] == 2 and {f["dport"] for f in table["shown"]} == {PORT}
    gc = runner.invoke(app, ["conntrack", "gc", *sel, "--json"])
    assert gc.exit_code == 0, gc.output
    assert json.loads(gc.output)[0]["scanned"] >= 2


def test_live_reloads_keep_the_flows(dp: Datapath, veth: tuple[str, str, str]) -> None:
    """A new table size, then stateful off: each a reload (a load-time change) whose migration
    copies the flow table; stateless again, the replies fall to the rules."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from alveole.trafficgen import Generator, from_frame

    ns, rx, tx = veth
    eth = Ether(src="02:a1:0e:00:00:01", dst="02:a1:0e:00:00:02")
    query = bytes(eth / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=4000, dport=53) / bytes(18))
    reply = bytes(eth / IP(src="198.18.0.2", dst="198.18.0.1") / UDP(sport=53, dport=4000) / bytes(18))
    base = {
        "stateful": True,
        "default": "drop",
        "conntrack_size": 4096,
        "rules": [_accept(id="dns", src="198.18.0.1/32", proto="udp", dport=53)],
    }
    chain = dp.create(ChainId(rx, "xdp", ns), [("fw", member_for("firewall", base))], end="drop")

    def send(frame: bytes, n: int = 10) -> None:
        with Generator(tx, [from_frame(frame)], netns=ns) as gen:
            assert gen.send(n).sent == n

    def dropped() -> int:
        return chain.member("fw").counters()["drop"][0]

    send(reply)
    send(query)
    send(reply)
    assert dropped() == 10  # the replies before the query only
    [flow] = connections(chain.member("fw").maps)
    assert flow.state == State.UDP_REPLIED and flow.packets == (10, 10)

    program = chain.member("fw").program.id
    chain.reconfigure("fw", member_for("firewall", {**base, "conntrack_size": 8192}))
    assert chain.member("fw").program.id != program
    assert chain.member("fw").maps["alv_ct4"].max_entries == 8192
    assert [c.key for c in connections(chain.member("fw").maps)] == [flow.key]
    send(reply)
    assert dropped() == 10

    chain.reconfigure("fw", member_for("firewall", {**base, "stateful": False}))
    send(reply)
    assert dropped() == 20  # no rule allows a reply: stateless, it is dropped
