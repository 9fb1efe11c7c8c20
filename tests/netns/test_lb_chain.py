"""The lb VNF as a chain member: reconfigured by map diffs, resized by a live update that keeps its flows."""

from __future__ import annotations

import ipaddress

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from alveole.datapath import ChainId
from alveole.datapath.catalog import member_for
from alveole.vnf.lb import LbConfig
from alveole.vnf.lb.state import read_flows

BACKENDS = ["198.18.10.11", "198.18.10.12", "198.18.10.13"]


def _cfg(backends: list[str], flows: int = 1024) -> LbConfig:
    return LbConfig.model_validate(
        {
            "ring_size": 1021,
            "flow_table_size": flows,
            "snat_ipv4": "198.18.10.1",
            "vips": [{"address": "198.18.100.1", "port": 80, "backends": [{"address": a} for a in backends]}],
        }
    )


def _syn(port: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="198.19.0.1", dst="198.18.100.1")
        / TCP(sport=port, dport=80, flags="S")
    )


def _to(chain, port: int) -> str:
    return str(ipaddress.IPv4Address(chain.dispatcher.run(_syn(port)).data[30:34]))


def test_lb_member_resized_live_keeps_flows_and_pool_changes_by_diff(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("lb", member_for("lb", _cfg(BACKENDS)))])
    ports = range(20000, 20200)
    first = {p: _to(chain, p) for p in ports}
    flows = read_flows(chain.member("lb").maps)
    assert len(flows) == len(ports)

    # a bigger flow table is fixed at load: a live update, the flows copied (migration "copy")
    chain.reconfigure("lb", member_for("lb", _cfg(BACKENDS, flows=4096)))
    assert chain.member("lb").maps["lb_flows"].max_entries == 4096
    assert read_flows(chain.member("lb").maps) == flows
    assert {p: _to(chain, p) for p in ports} == first

    # a backend removed: map diffs only (same program); only its flows move
    prog = chain.member("lb").program.id
    chain.reconfigure("lb", member_for("lb", _cfg(BACKENDS[:2], flows=4096)))
    assert chain.member("lb").program.id == prog
    after = {p: _to(chain, p) for p in ports}
    assert {p for p in ports if after[p] != first[p]} == {p for p in ports if first[p] == BACKENDS[2]}
