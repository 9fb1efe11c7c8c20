"""MANO on the real kernel: a network service deployed, watched, changed live, healed, torn down,
with generated traffic through it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from alveole.bpf import Link, Map, Program, XdpAction
from alveole.datapath import ChainId, ChainPaths
from alveole.mano import KernelDriver, Lcm, SqliteStore, load_documents
from alveole.mano.api import create_app
from alveole.mano.testing import attached_programs, isolated, pinned
from alveole.system import netns as _netns
from alveole.trafficgen import Generator, udp

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx2
    from fastapi.testclient import TestClient

FRAME = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=1000, dport=2000) / bytes(18))
ROOT = Path(__file__).resolve().parents[2]
HOP = ROOT / "tests" / "kernel" / "progs" / "hop.bpf.c"


def hop_vnfd(version: str) -> dict:
    return {
        "vnfdId": f"hop-{version}",
        "vnfProvider": "tests",
        "vnfProductName": "hop",
        "vnfSoftwareVersion": version,
        "program": {"source": str(HOP), "entries": {"xdp": "hop_xdp", "tc": "hop_tc"}},
        "supportedHooks": ["xdp", "tc-ingress", "tc-egress"],
        "configurableProperties": {
            "properties": {"tag": {"default": 1}, "verdict": {"default": 0}, "mark": {"default": 0}}
        },
    }


NSD = {
    "nsdId": "watch",
    "vnfProfiles": [
        {"vnfProfileId": "mon", "vnfdId": "flowmon", "config": {"table_size": 1024}},
        {"vnfProfileId": "tag", "vnfdId": "hop-1.0"},
    ],
    "virtualLinks": [{"virtualLinkId": "lan", "interfaces": ["alvt0"], "cidrs": ["198.18.0.0/24"]}],
    "forwardingPaths": [
        {"forwardingPathId": "in", "virtualLinkId": "lan", "hook": "xdp", "vnfProfileIds": ["mon", "tag"]}
    ],
}


@pytest.fixture
def mano(tmp_path: Path, veth) -> Iterator[tuple[Lcm, str]]:
    ns, _, _ = veth
    _netns.add_veth(ns, "alvt2", "alvt3", ipv6=False)
    with isolated(tmp_path / "state") as iso:
        lcm = Lcm(SqliteStore(iso.db), KernelDriver())
        yield lcm, ns
        for n in lcm.ns_list():
            if n.nsState == "INSTANTIATED":
                lcm.terminate(n.id)


def _send(ns: str, count: int, iface: str = "alvt1") -> int:
    with Generator(iface, udp(), netns=ns, flows=8) as gen:
        return gen.send(count).sent


def _hops(lcm: Lcm, name: str) -> dict[str, dict]:
    return {m["vnfProfileId"]: m for c in lcm.chains(name) for m in c.as_dict()["members"]}


def _received(lcm: Lcm, name: str, vnf: str) -> int:
    return _hops(lcm, name)[vnf]["counters"]["continue"]["packets"]


def test_lifecycle_under_traffic(mano) -> None:
    lcm, ns = mano
    bpffs = KernelDriver().bpffs
    lcm.onboard_vnfd(hop_vnfd("1.0"))
    lcm.onboard_vnfd(hop_vnfd("2.0"))
    lcm.deploy([NSD], netns=ns)
    paths = ChainPaths(ChainId("alvt0", "xdp", ns), bpffs)
    dispatcher = Program.from_pin(paths.dispatcher)
    assert attached_programs("alvt0", ns)["xdp"] == [dispatcher.id]

    sent = _send(ns, 2000)
    assert sent == 2000
    assert _received(lcm, "watch", "mon") == _received(lcm, "watch", "tag") == sent  # every frame, every hop
    metrics = TestClient(create_app(lcm)).get("/metrics").text
    labels = 'hook="xdp",interface="alvt0",ns="watch",verdict="continue",vnf="mon"'
    assert f"alveole_vnf_packets_total{{{labels}}} {sent}.0" in metrics

    # a load-time setting (a const volatile): a live reload, state kept
    prog = _hops(lcm, "watch")["tag"]["progId"]
    lcm.modify_config("watch", {"tag": {"tag": 7}})
    assert _hops(lcm, "watch")["tag"]["progId"] != prog
    # a run-time setting: map diffs, same program
    mon_prog = _hops(lcm, "watch")["mon"]["progId"]
    occ = lcm.modify_config("watch", {"mon": {"ignore": ["198.18.9.0/24"]}})
    assert occ.journal[0].detail == "reconfigure mon" and _hops(lcm, "watch")["mon"]["progId"] == mon_prog
    assert _received(lcm, "watch", "tag") == sent
    # a new version, live; its counters carry over
    lcm.change_package("watch", {"tag": "hop-2.0"})
    assert _hops(lcm, "watch")["tag"]["version"] == "2.0"
    sent += _send(ns, 1000)
    assert _received(lcm, "watch", "mon") == _received(lcm, "watch", "tag") == sent

    # scale out to a second interface and back
    lcm.scale("watch", {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt2"]})
    assert attached_programs("alvt2", ns)["xdp"]
    assert _send(ns, 500, "alvt3") == 500
    assert [c.view.members[0].counters["continue"][0] for c in lcm.chains("watch")] == [sent, 500]
    lcm.scale("watch", {"scaleType": "SCALE_IN", "virtualLinkId": "lan", "interfaces": ["alvt2"]})
    assert attached_programs("alvt2", ns)["xdp"] == []
    assert not any("alvt2" in p for p in pinned(bpffs))

    # stop: the hook stays, nothing runs, packets are dropped (not let through); start again
    lcm.operate("watch", "STOPPED")
    assert [c.view.members for c in lcm.chains("watch")] == [()]
    assert attached_programs("alvt0", ns)["xdp"] == [dispatcher.id]
    assert dispatcher.run(FRAME).verdict == XdpAction.DROP
    lcm.operate("watch", "STARTED")
    assert dispatcher.run(FRAME).verdict == XdpAction.PASS  # through the chain: counted once
    assert _send(ns, 100) == 100 and _received(lcm, "watch", "tag") == 101  # fresh instances

    # heal: the link was detached behind our back, a member's program pin removed
    link = Link.from_pin(paths.link)
    link.detach()
    link.close()
    Path(paths.member_prog("tag")).unlink()
    assert not any(c.in_sync for c in lcm.chains("watch"))
    occ = lcm.heal("watch")
    assert "re-attached" in occ.journal[0].detail and "reloaded member tag" in occ.journal[0].detail
    assert all(c.in_sync for c in lcm.chains("watch"))
    assert attached_programs("alvt0", ns)["xdp"] == [dispatcher.id]
    assert _send(ns, 100) == 100 and _received(lcm, "watch", "tag") == 201  # the maps survived the heal

    dispatcher.close()
    lcm.terminate("watch")
    assert attached_programs("alvt0", ns) == {"xdp": [], "tc-ingress": [], "tc-egress": []}
    assert pinned(bpffs) == []
    assert not list(KernelDriver().state.glob("*.json"))
    assert [o.operationState for o in lcm.ops()] == ["COMPLETED"] * 10


def test_example_deployment_and_a_migrating_package_change(mano) -> None:
    lcm, ns = mano
    _netns.add_veth(ns, "alveth0", "alveth1", ipv6=False)
    examples = ROOT / "examples" / "ns"
    lcm.deploy(load_documents(examples / "edge.yaml"), netns=ns)
    assert attached_programs("alveth0", ns)["xdp"] and attached_programs("alveth0", ns)["tc-egress"]
    with Generator("alveth1", udp(), netns=ns, flows=1) as gen:
        sent = gen.send(1000).sent
    maps = ChainPaths(ChainId("alveth0", "xdp", ns), KernelDriver().bpffs).member_dir("in") / "maps"

    def flows() -> tuple[int, int]:
        m = Map.from_pin(str(maps / "flowmon_flows4"))
        try:
            return len(list(m.keys())), m.max_entries
        finally:
            m.close()

    assert flows() == (1, 1024)
    lcm.onboard_vnfd(load_documents(examples / "flowmon-edge-v2.yaml")[0])
    occ = lcm.change_package("edge", {"in": "flowmon-edge-2", "out": "flowmon-edge-2"})
    assert [s.detail for s in occ.journal] == [
        "update in 1.0-edge -> 2.0-edge",
        "update out 1.0-edge -> 2.0-edge",
    ]
    assert flows() == (1, 8192)  # the table grew and its flow was copied over (mapMigrations: copy)
    assert _received(lcm, "edge", "in") == sent
    lcm.terminate("edge")
    assert attached_programs("alveth0", ns) == {"xdp": [], "tc-ingress": [], "tc-egress": []}


def test_a_blocklist_changed_live_drops_at_its_hop(mano) -> None:
    """ddos guard then flowmon: a prefix added to the blocklist is dropped at the first hop, live."""
    lcm, ns = mano
    small = {"table_size_v4": 64, "table_size_v6": 64, "syn_table_size": 64}
    nsd = {
        "nsdId": "guarded",
        "vnfProfiles": [
            {"vnfProfileId": "guard", "vnfdId": "ddos", "config": small},
            {"vnfProfileId": "mon", "vnfdId": "flowmon", "config": {"table_size": 1024}},
        ],
        "virtualLinks": [{"virtualLinkId": "lan", "interfaces": ["alvt0"]}],
        "forwardingPaths": [
            {"forwardingPathId": "in", "virtualLinkId": "lan", "vnfProfileIds": ["guard", "mon"]}
        ],
    }
    lcm.deploy([nsd], netns=ns)
    client = TestClient(create_app(lcm))
    guard_prog = _hops(lcm, "guarded")["guard"]["progId"]

    def dropped() -> int:
        return _hops(lcm, "guarded")["guard"]["counters"]["drop"]["packets"]

    assert _send(ns, 1000) == 1000  # from 198.18.0.1 (the generator's default source)
    assert (dropped(), _received(lcm, "guarded", "mon")) == (0, 1000)
    occ = lcm.modify_config("guarded", {"guard": {"blocklist": ["198.18.0.0/24"]}})
    assert occ.journal[0].detail == "reconfigure guard"
    assert _hops(lcm, "guarded")["guard"]["progId"] == guard_prog  # map diffs, same program
    assert _send(ns, 1000) == 1000
    assert (dropped(), _received(lcm, "guarded", "mon")) == (1000, 1000)  # dropped at the first hop
    labels = 'hook="xdp",interface="alvt0",ns="guarded",verdict="drop",vnf="guard"'
    assert f"alveole_vnf_packets_total{{{labels}}} 1000.0" in client.get("/metrics").text
    lcm.modify_config("guarded", {"guard": {"blocklist": []}})
    assert _send(ns, 500) == 500
    assert (dropped(), _received(lcm, "guarded", "mon")) == (1000, 1500)
    lcm.terminate("guarded")
