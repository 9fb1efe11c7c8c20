"""XDP and tcx links on a veth pair in a test namespace, with real frames through them."""

from __future__ import annotations

import os

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from alveole import progs
from alveole.bpf import BPF_F_TEST_XDP_LIVE_FRAMES, Link, LinkType
from alveole.errors import AttachError
from alveole.system import netns as ns_mod
from alveole.toolchain import open_source

FRAME = bytes(
    Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    / IP(src="198.18.0.1", dst="198.18.0.2")
    / UDP(sport=1000, dport=9)
    / bytes(18)
)


@pytest.fixture
def loaded():
    objs = {n: open_source(progs.path(n)) for n in ("noop", "counter", "redirect")}
    yield objs
    for o in objs.values():
        o.close()


def _send(loaded, ns: str, out_ifindex: int, count: int) -> None:
    gen = loaded["redirect"]
    if not gen.loaded:
        gen.globals["target_ifindex"] = out_ifindex
        gen.load()
    with ns_mod.enter(ns):
        gen.program().run(FRAME, repeat=count, flags=BPF_F_TEST_XDP_LIVE_FRAMES)


def test_xdp_attach_counts_real_frames_and_detaches(veth, loaded) -> None:
    ns, tx, rx = veth
    loaded["counter"].globals["action"] = 1  # XDP_DROP
    loaded["counter"].load()
    loaded["noop"].load()
    tx_idx = ns_mod.ifindex(tx, ns)
    with loaded["noop"].program("xdp_noop").attach_xdp(tx, netns=ns):
        link = loaded["counter"].program().attach_xdp(rx, mode="native", netns=ns)
        info = link.info()
        assert info.type == LinkType.XDP and info.ifindex == ns_mod.ifindex(rx, ns)
        assert info.prog_id == loaded["counter"].program().id
        _send(loaded, ns, tx_idx, 500)
        assert loaded["counter"].map("counters")[0].sum().packets == 500
        link.close()  # not pinned: closing detaches
        _send(loaded, ns, tx_idx, 100)
        assert loaded["counter"].map("counters")[0].sum().packets == 500


def test_second_xdp_link_on_the_same_interface_is_refused(veth, loaded) -> None:
    ns, _, rx = veth
    loaded["noop"].load()
    with (
        loaded["noop"].program("xdp_noop").attach_xdp(rx, netns=ns),
        pytest.raises(AttachError, match="already has an XDP program"),
    ):
        loaded["noop"].program("xdp_noop").attach_xdp(rx, netns=ns)


def test_link_update_swaps_the_program_atomically(veth, loaded) -> None:
    ns, tx, rx = veth
    counter, noop = loaded["counter"], loaded["noop"]
    counter.globals["action"] = 1
    counter.load()
    noop.load()
    with (
        noop.program("xdp_noop").attach_xdp(tx, netns=ns),
        noop.program("xdp_noop").attach_xdp(rx, netns=ns) as link,
    ):
        link.update(counter.program(), expected=noop.program("xdp_noop"))
        assert link.prog_id == counter.program().id
        _send(loaded, ns, ns_mod.ifindex(tx, ns), 200)
        assert counter.map("counters")[0].sum().packets == 200
        with pytest.raises(AttachError, match="not the expected"):
            link.update(noop.program("xdp_noop"), expected=noop.program("xdp_noop"))


def test_pinned_link_outlives_its_fd(veth, loaded) -> None:
    ns, tx, rx = veth
    counter, noop = loaded["counter"], loaded["noop"]
    counter.globals["action"] = 1
    counter.load()
    noop.load()
    pin = f"/sys/fs/bpf/alveole-test-{os.getpid()}/xdp_link"
    with noop.program("xdp_noop").attach_xdp(tx, netns=ns):
        link = counter.program().attach_xdp(rx, netns=ns)
        link.pin(pin)
        link_id = link.id
        link.close()
        try:
            again = Link.from_pin(pin)
            assert again.id == link_id
            _send(loaded, ns, ns_mod.ifindex(tx, ns), 100)
            assert counter.map("counters")[0].sum().packets == 100
            again.detach()  # detached in the kernel although still pinned
            _send(loaded, ns, ns_mod.ifindex(tx, ns), 100)
            assert counter.map("counters")[0].sum().packets == 100
            again.unpin()
            again.close()
        finally:
            if os.path.exists(pin):
                os.unlink(pin)
            os.rmdir(os.path.dirname(pin))


def test_tc_ingress_and_egress_tcx_links(veth, loaded) -> None:
    ns, _, rx = veth
    noop = loaded["noop"]
    noop.load()
    with (
        noop.program("tc_noop").attach_tc(rx, direction="ingress", netns=ns) as ing,
        noop.program("tc_noop").attach_tc(rx, direction="egress", netns=ns) as eg,
    ):
        assert ing.info().type == LinkType.TCX and eg.info().type == LinkType.TCX
        assert ing.info().ifindex == ns_mod.ifindex(rx, ns)
        assert ing.info().attach_type != eg.info().attach_type


def test_unknown_interface_is_a_clear_error(netns, loaded) -> None:
    loaded["noop"].load()
    with pytest.raises(LookupError, match="alvnope"):
        loaded["noop"].program("xdp_noop").attach_xdp("alvnope", netns=netns)
