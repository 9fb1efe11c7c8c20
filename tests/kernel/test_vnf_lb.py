"""The lb VNF in the kernel: fixtures, sessions against the model, pool changes, fib egress, decap."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.bpf import XdpAction
from alveole.lb import LoadBalancer
from alveole.system import netns as ns_mod
from alveole.vnf import Verdict, VnfInstance, get, run_fixtures
from alveole.vnf.lb import LbConfig, LbModel, Reason
from alveole.vnf.lb.decap import Decapsulator, decapsulate
from alveole.vnf.lb.fixtures import fixtures
from alveole.vnf.lb.state import backend_flow_counts, read_flows, reason_counts
from alveole.vnf.lb.strategies import changed, configs, events, reply_frame, request_frame

SPEC = get("lb")


def test_fixture_table() -> None:
    results = run_fixtures(SPEC, timing_repeat=1)
    assert results and all(r.ok for r in results), [(r.description, r.problems) for r in results if not r.ok]


def _session(inst: VnfInstance, model: LbModel, steps: list[tuple[Any, ...]]) -> list[str]:
    """Play steps on the kernel and the model; returns the differences."""
    problems = []
    for n, step in enumerate(steps):
        if step[0] in ("drop_backend", "weight", "drop_vip"):
            new = changed(model.config, step)
            inst.apply(new)
            model.apply(new)
            continue
        if step[0] == "request":
            frame = request_frame(model.config, step)
        elif step[0] == "reply":
            frame = reply_frame(model, step)
        else:
            frame = step[1]
        if frame is None or len(frame) < 14:
            continue
        obs = inst.run(frame)
        want = model.process(frame, "xdp")
        if (obs.verdict, obs.data) != (want.verdict, want.data):
            problems.append(
                f"step {n} {step[0]}: kernel {obs.verdict.name} {obs.data.hex()}, "
                f"model {want.verdict.name} {want.data.hex()}"
            )
    return problems + model.state_diff(inst)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(config=configs(min_vips=1, min_backends=1), steps=events())
def test_sessions_agree_with_the_model(config: LbConfig, steps: list[tuple[Any, ...]]) -> None:
    """Requests to the VIPs, replies to translated flows, noise and pool changes: kernel == model."""
    with VnfInstance.load(SPEC, "xdp", config) as inst:
        assert _session(inst, LbModel(config), steps) == []


# --- pool changes, step by step -----------------------------------------------------------

CLIENT = "198.19.0.1"
BACKENDS = [f"198.18.10.{11 + i}" for i in range(4)]


def _pool(weights: list[int], *, dsr: bool = False) -> LbConfig:
    return LbConfig.model_validate(
        {
            "ring_size": 1021,
            "snat_ipv4": "198.18.10.1",
            "tunnel_ipv4": "198.18.10.1",
            "vips": [
                {
                    "address": "198.18.100.1",
                    "port": 80,
                    "mode": "dsr" if dsr else "nat",
                    "backends": [
                        {"address": a, "weight": w} for a, w in zip(BACKENDS, weights, strict=False)
                    ],
                }
            ],
        }
    )


def _syn(cport: int) -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src=CLIENT, dst="198.18.100.1")
        / TCP(sport=cport, dport=80, flags="S")
    )


def _backend_of(frame: bytes) -> str:
    return str(ipaddress.IPv4Address(frame[30:34]))


def test_removing_a_backend_moves_only_its_flows() -> None:
    cfg = _pool([1, 1, 1, 1])
    ports = range(20000, 20400)
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        before = {p: _backend_of(inst.run(_syn(p)).data) for p in ports}
        assert set(before.values()) == set(BACKENDS)
        inst.apply(_pool([1, 1, 1]))  # the fourth backend leaves
        after = {p: _backend_of(inst.run(_syn(p)).data) for p in ports}
        moved = {p for p in ports if before[p] != after[p]}
        assert moved == {p for p in ports if before[p] == BACKENDS[3]}
        assert BACKENDS[3] not in after.values()
        reasons = reason_counts(inst.maps)
        assert reasons[Reason.REPINNED][0] == len(moved)
        assert reasons[Reason.NEW][0] == len(ports)


def test_draining_keeps_existing_flows_and_takes_no_new_ones() -> None:
    with VnfInstance.load(SPEC, "xdp", _pool([1, 1, 1])) as inst:
        before = {p: _backend_of(inst.run(_syn(p)).data) for p in range(30000, 30300)}
        inst.apply(_pool([1, 1, 0]))  # the third backend drains
        again = {p: _backend_of(inst.run(_syn(p)).data) for p in before}
        assert again == before  # every flow stays, also those of the draining backend
        new = {_backend_of(inst.run(_syn(p)).data) for p in range(31000, 31300)}
        assert new == set(BACKENDS[:2])


def test_a_vip_removed_forgets_its_flows() -> None:
    cfg = _pool([1, 1])
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        assert inst.run(_syn(40000)).verdict == Verdict.PASS
        inst.apply(cfg.model_copy(update={"vips": ()}))
        obs = inst.run(_syn(40000))
        assert obs.verdict == Verdict.CONTINUE and obs.data == _syn(40000)
        assert read_flows(inst.maps) == {}


def test_a_slot_whose_backend_vanished_takes_the_next_slot() -> None:
    """The window in which a ring slot names a backend already removed (generic diffs)."""
    cfg = _pool([1, 1, 1])
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        model = LbModel(cfg)
        gone = cfg.vips[0].backend_id(cfg.vips[0].backends[0])
        del inst.maps["lb_backends"][gone]
        del model.backends[gone]
        for p in range(50000, 50200):
            frame = _syn(p)
            obs, want = inst.run(frame), model.process(frame, "xdp")
            assert (obs.verdict, obs.data) == (want.verdict, want.data)
            assert _backend_of(obs.data) != BACKENDS[0]
        assert model.state_diff(inst) == []


def test_udp_flows_keep_their_backend_while_the_pool_grows() -> None:
    def dgram(p: int) -> bytes:
        return bytes(
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src=CLIENT, dst="198.18.100.1")
            / UDP(sport=p, dport=80)
            / b"q"
        )

    cfg = _pool([1, 1]).model_copy(
        update={"vips": (_pool([1, 1]).vips[0].model_copy(update={"proto": "udp"}),)}
    )
    bigger = cfg.model_copy(
        update={"vips": (cfg.vips[0].model_copy(update={"backends": _pool([1, 1, 1, 1]).vips[0].backends}),)}
    )
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        before = {p: _backend_of(inst.run(dgram(p)).data) for p in range(1000, 1200)}
        inst.apply(bigger)
        assert {p: _backend_of(inst.run(dgram(p)).data) for p in before} == before
        fresh = {_backend_of(inst.run(dgram(p)).data) for p in range(2000, 2400)}
        assert fresh == set(BACKENDS)


def test_flow_counts_per_backend() -> None:
    cfg = _pool([1, 3])
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        for p in range(10000, 10400):
            inst.run(_syn(p))
        ids = [cfg.vips[0].backend_id(b) for b in cfg.vips[0].backends]
        counts = backend_flow_counts(inst.maps)
        assert sum(counts.values()) == 400
        assert counts[ids[1]] > 2 * counts[ids[0]]  # weights 1:3 (exact shares: unit tests)


# --- the controller -----------------------------------------------------------------------


def test_controller_writes_only_the_slots_that_move() -> None:
    cfg = _pool([1, 1, 1, 1]).model_copy(update={"ring_size": 65537})
    with VnfInstance.load(SPEC, "xdp", cfg) as inst:
        lb = LoadBalancer.of(inst)
        ids = [cfg.vips[0].backend_id(b) for b in cfg.vips[0].backends]
        held = sum(1 for v in cfg.ring_entries().values() if v == ids[2])
        assert lb.set_down(ids[2], True)
        kernel = {k: v for k, v in inst.maps["lb_ring"].items() if v}
        assert kernel == lb.effective().ring_entries()
        assert ids[2] not in inst.maps["lb_backends"]
        report = lb.apply()
        assert report.ring_slots == 0  # nothing left to write
        assert not lb.set_down(ids[2], True)
        assert lb.set_down(ids[2], False)
        assert {k: v for k, v in inst.maps["lb_ring"].items() if v} == cfg.ring_entries()
        # taking a backend out rewrote about its share of the ring, and no other slot
        assert held > 65537 // 4 - 2
        status = {b.address: b.state for b in lb.status()[0].backends}
        assert set(status.values()) == {"up"}


# --- fib egress (in a scratch namespace: test_run looks routes up where it runs) ----------


def _ctx(frame: bytes, ifindex: int) -> bytes:
    """struct xdp_md for test_run: the frame arrived on ``ifindex``."""
    return struct.pack("<6I", 0, len(frame), 0, ifindex, 0, 0)


def test_fib_egress_redirects_transmits_or_falls_back(netns: str) -> None:
    from pyroute2 import NetNS

    to_backends, _ = ns_mod.add_veth(netns, "alvlb0", "alvlb0p", ipv6=False)
    to_clients, _ = ns_mod.add_veth(netns, "alvlb1", "alvlb1p", ipv6=False)
    with NetNS(netns, flags=0) as ns:
        ns.addr("add", index=to_backends, address="198.18.10.1", prefixlen=24)
        ns.addr("add", index=to_clients, address="198.18.1.254", prefixlen=24)
        ns.neigh("add", dst="198.18.10.11", lladdr="02:00:00:00:10:11", ifindex=to_backends, state=0x80)
    ns_mod.set_sysctl(netns, "net.ipv4.ip_forward", 1)
    cfg = _pool([1]).model_copy(update={"egress": "fib", "fib_ports": (to_backends,)})
    with ns_mod.enter(netns):  # the devmap takes devices of the writer's namespace
        inst = VnfInstance.load(SPEC, "xdp", cfg)
    links = []
    try:
        # test_run takes an ingress device only if its rx queue is registered (XDP attached)
        links = [inst.program.attach_xdp(i, mode="native", netns=netns) for i in ("alvlb0", "alvlb1")]

        def run(p: int, ifindex: int) -> Any:
            with ns_mod.enter(netns):  # test_run looks routes up in the caller's namespace
                return inst.program.run(_syn(p), ctx=_ctx(_syn(p), ifindex))

        res = run(40000, to_clients)
        assert res.retval == XdpAction.REDIRECT
        assert res.data[:6] == bytes.fromhex("020000001011") and _backend_of(res.data) == "198.18.10.11"
        res = run(40001, to_backends)  # coming in where it leaves: XDP_TX
        assert res.retval == XdpAction.TX
        with ns_mod.enter(netns):
            inst.apply(cfg.model_copy(update={"vips": _pool([1, 1]).vips}))
        # a flow to the backend without a neighbour entry: left to the stack, MACs untouched
        for p in range(41000, 41200):
            res = run(p, to_clients)
            if _backend_of(res.data) == BACKENDS[1]:
                break
        assert res.retval == XdpAction.PASS and res.data[:12] == _syn(p)[:12]
        assert reason_counts(inst.maps)[Reason.FIB_PASS][0] >= 1
    finally:
        for link in links:
            link.close()
        inst.close()


# --- the backend's decapsulator --------------------------------------------------------------


@pytest.mark.parametrize(
    "row", [r for r in fixtures() if r.description.startswith("DSR")], ids=lambda r: r.description[:32]
)
def test_decap_restores_what_the_lb_wrapped(row: Any) -> None:
    ours = ["198.18.10.12", "2001:db8:10::12", "2001:db8:10::13", "198.18.10.14"]
    with Decapsulator(ours) as d:
        wrapped = row.expected_output
        res = d.program.run(wrapped)
        assert res.data == row.frame == decapsulate(wrapped, ours)
        # not for us: untouched
        res = d.program.run(row.frame)
        assert res.data == row.frame and decapsulate(row.frame, ours) is None
    with Decapsulator(["198.18.10.99"]) as d:
        assert d.program.run(row.expected_output).data == row.expected_output
