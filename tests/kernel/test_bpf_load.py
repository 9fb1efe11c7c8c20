"""Objects load, programs run through BPF_PROG_TEST_RUN, and everything closes."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from alveole import progs
from alveole.bpf import BpfObject, ProgType, XdpAction
from alveole.errors import BpfStateError
from alveole.toolchain import compile_bpf, open_source

from .helpers import bpf_fd_kinds, open_test_prog


def _udp(dport: int) -> bytes:
    return bytes(Ether() / IP(src="198.18.0.1", dst="198.19.0.1") / UDP(sport=1000, dport=dport))


def test_load_and_run_selfcheck() -> None:
    with open_source(progs.path("selfcheck")) as obj:
        obj.globals["blocked_port"] = 53
        obj.load()
        prog = obj.program()
        assert prog.type == ProgType.XDP
        info = prog.info()
        assert info.id > 0 and len(info.tag) == 16 and info.verified_insns > 0
        assert prog.id == info.id
        dropped = prog.run(_udp(53), repeat=100)
        passed = prog.run(_udp(54))
        assert dropped.verdict == XdpAction.DROP
        assert passed.verdict == XdpAction.PASS
        assert passed.data == _udp(54)  # the program did not touch the packet
        assert dropped.duration_ns > 0
        stats = obj.map("stats")[0].sum()
        assert (stats.dropped, stats.passed) == (100, 1)


def test_open_from_bytes_and_program_iteration() -> None:
    raw = compile_bpf(progs.path("noop")).read_bytes()
    with BpfObject.open(raw, name="noop_mem") as obj:
        assert set(obj.programs) == {"xdp_noop", "tc_noop"}
        assert obj.programs["tc_noop"].type == ProgType.SCHED_CLS
        obj.load()
        assert obj.program("xdp_noop").run(bytes(64)).verdict == XdpAction.PASS


def test_autoload_off_leaves_a_program_unloaded() -> None:
    with open_source(progs.path("noop")) as obj:
        obj.programs["tc_noop"].autoload = False
        obj.load()
        assert obj.programs["xdp_noop"].loaded
        assert not obj.programs["tc_noop"].loaded


def test_phases_are_enforced() -> None:
    with open_source(progs.path("selfcheck")) as obj:
        with pytest.raises(BpfStateError):
            obj.program().run(bytes(64))
        obj.load()
        with pytest.raises(BpfStateError, match="before load"):
            obj.globals["blocked_port"] = 1
        with pytest.raises(BpfStateError):
            obj.map("stats").set_max_entries(4)
        with pytest.raises(BpfStateError):
            obj.load()
    with pytest.raises(BpfStateError):
        obj.program().run(bytes(64))


def test_data_and_bss_globals_after_load() -> None:
    with open_test_prog("maps") as obj:
        obj.globals["answer"] = 5
        obj.load()
        obj.program("xdp_entry").run(bytes(64), repeat=3)
        assert obj.globals["hits"] == 3
        assert obj.map("arr")[0] == 15
        obj.globals["hits"] = 100
        assert obj.globals["hits"] == 100


def test_close_releases_every_kernel_object() -> None:
    before = bpf_fd_kinds()
    obj = open_test_prog("maps").load()
    assert len(bpf_fd_kinds()) > len(before)
    obj.close()
    assert bpf_fd_kinds() == before


def test_skb_program_runs_too() -> None:
    with open_source(progs.path("noop")) as obj:
        obj.load()
        res = obj.program("tc_noop").run(_udp(9))
        assert res.retval == 0xFFFFFFFF  # TC_ACT_UNSPEC (-1)
        assert res.verdict == -1
