"""The firewall on a veth under generated traffic: alone (XDP, TC ingress) and in a service
chain (firewall -> flowmon) reconfigured live, including a reload that grows its tables."""

from __future__ import annotations

import threading
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole import progs
from alveole.datapath import ChainId
from alveole.datapath.catalog import member_for
from alveole.toolchain import open_source
from alveole.trafficgen import Generator, from_frame
from alveole.vnf import Verdict, VnfInstance, get
from alveole.vnf.firewall import default_hits, rule_hits
from alveole.vnf.firewall.generate import random_rules
from alveole.vnf.flowmon import read_flows

ETH = Ether(src="02:a1:0e:00:00:01", dst="02:a1:0e:00:00:02")
ACCEPTED = bytes(ETH / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=4000, dport=53) / bytes(18))
BLOCKED = bytes(ETH / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=4001, dport=80, flags="S"))
UNMATCHED = bytes(ETH / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=4002, dport=9999) / bytes(18))
POLICY = {
    "default": "drop",
    "rules": [
        {"id": "dns", "src": "198.18.0.0/24", "proto": "udp", "dport": 53, "action": "accept"},
        {"id": "web", "proto": "tcp", "dport": 80, "action": "drop"},
    ],
}
TEMPLATES = [from_frame(f) for f in (ACCEPTED, BLOCKED, UNMATCHED)]


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_firewall_filters_live_frames(veth, hook: str) -> None:
    ns, rx, tx = veth
    cfg = get("firewall").validate(POLICY)
    with VnfInstance.load("firewall", hook, cfg) as fw, open_source(progs.path("noop")) as noop:
        noop.load()
        links = []
        if hook == "xdp":
            links.append(fw.program.attach_xdp(rx, mode="native", netns=ns))
        else:  # the veth needs an XDP program to take redirected frames: a no-op one, then TC
            links.append(noop.program("xdp_noop").attach_xdp(rx, netns=ns))
            links.append(fw.program.attach_tc(rx, direction="ingress", netns=ns))
        try:
            with Generator(tx, TEMPLATES, netns=ns) as gen:
                sent = gen.send(3000).sent
            deadline = time.monotonic() + 2
            while sum(c.packets for c in fw.counters().values()) < sent and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            for link in reversed(links):
                link.close()
        assert sent == 3000
        hits = {h.rule.id: h.packets for h in rule_hits(fw, cfg)}
        assert hits == {"dns": 1000, "web": 1000}
        assert default_hits(fw) == (1000, 1000 * len(UNMATCHED))
        counts = fw.counters()
        assert counts[Verdict.CONTINUE].packets == 1000 and counts[Verdict.DROP].packets == 2000


def test_chain_reconfigured_live_keeps_counters(dp, veth) -> None:
    """firewall -> flowmon on XDP: flowmon sees exactly what the firewall accepts; new rule sets
    (a diff, then one that needs bigger tables: a reload with migrated counters) apply under
    traffic without losing a frame or a rule's count."""
    ns, rx, tx = veth
    chain = dp.create(
        ChainId(rx, "xdp", ns),
        [("fw", member_for("firewall", POLICY)), ("fm", member_for("flowmon"))],
        end="drop",
    )
    stop = threading.Event()
    result: dict = {}
    opened = {**POLICY, "rules": [*POLICY["rules"], {"id": "open9999", "dport": 9999, "action": "accept"}]}
    big = {**opened, "rules": [*opened["rules"], *random_rules(2500, seed=8, ipv6=1.0)]}
    with Generator(tx, TEMPLATES, netns=ns) as gen:
        sender = threading.Thread(target=lambda: result.update(r=gen.send(rate=60_000, stop=stop)))
        sender.start()
        try:
            time.sleep(0.2)
            chain.reconfigure("fw", member_for("firewall", opened))  # map diffs, same program
            time.sleep(0.2)
            program = chain.member("fw").program.id
            chain.reconfigure("fw", member_for("firewall", big))  # bigger tables: a live reload
            assert chain.member("fw").program.id != program
            time.sleep(0.2)
        finally:
            stop.set()
            sender.join()
    sent = result["r"].sent
    time.sleep(0.1)
    fw, fm = chain.member("fw"), chain.member("fm")
    hits = {h.rule.id: h.packets for h in rule_hits(fw, get("firewall").validate(big)) if h.rule.id}
    seen = sum(fw.counters()[v][0] for v in ("continue", "drop"))
    assert sent > 10_000 and seen == sent  # every frame was decided, across the reload too
    assert hits["dns"] + hits["web"] + hits["open9999"] + default_hits(fw)[0] == sent
    # the counters of "dns" and "web" went through the reload (copied): about a third each
    assert abs(hits["dns"] - sent / 3) <= 2 and abs(hits["web"] - sent / 3) <= 2
    assert hits["open9999"] > 0 and default_hits(fw)[0] > 0
    accepted = fw.counters()["continue"][0]
    assert accepted == hits["dns"] + hits["open9999"]
    flows = {f.key.dport: f.packets for f in read_flows_from(fm)}
    assert sum(flows.values()) == accepted and set(flows) == {53, 9999}


def read_flows_from(member) -> list:
    return read_flows(member)
