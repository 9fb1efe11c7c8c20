"""VnfInstance: one hook, globals and reused maps before load, verdicts from counters, the contract."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from alveole import progs
from alveole.bpf import XdpAction
from alveole.errors import VnfContractError
from alveole.vnf import ReferenceModel, Verdict, VnfConfig, VnfInstance, VnfSpec, get
from alveole.vnf.sdkprobe import PROBE_SOURCE

PROGS = Path(__file__).resolve().parent / "progs"
FRAME = bytes(
    Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    / IP(src="198.18.0.1", dst="198.19.0.1")
    / UDP(sport=1, dport=2)
)


def _spec(source: Path, entries: dict[str, str]) -> VnfSpec:
    return VnfSpec("test", "a test VNF", source, entries, VnfConfig, ReferenceModel)


def test_only_the_requested_hook_is_loaded() -> None:
    with VnfInstance.load("flowmon", "tc") as fm:
        assert fm.program.name == "flowmon_tc" and fm.program.loaded
        assert not fm.object.programs["flowmon_xdp"].loaded
        assert {"alv_stats", "flowmon_flows4"} <= set(fm.maps)
        assert not any(m.startswith(".") for m in fm.maps)


def test_continue_and_pass_are_told_apart() -> None:
    # both entries return XDP_PASS alone; only the counters say which verdict it was
    entries = {"xdp": "probe_parse_xdp", "tc": "probe_parse_tc"}
    with VnfInstance.load(_spec(PROBE_SOURCE, entries), "xdp") as cont:
        obs = cont.run(FRAME)
        assert (obs.verdict, obs.action, obs.data) == (Verdict.CONTINUE, XdpAction.PASS, FRAME)
    entries = {"xdp": "probe_rewrite_xdp", "tc": "probe_rewrite_tc"}
    with VnfInstance.load(_spec(PROBE_SOURCE, entries), "xdp") as passing:
        obs = passing.run(FRAME)
        assert (obs.verdict, obs.action) == (Verdict.PASS, XdpAction.PASS)
        assert passing.counters()[Verdict.PASS].bytes == len(FRAME)


def test_globals_and_reused_maps_are_set_before_load() -> None:
    with VnfInstance.load("flowmon", "xdp") as first:
        first.run(FRAME)
        with VnfInstance.load(
            "flowmon", "xdp", globals={"alv_next_slot": 3}, reuse={"alv_stats": first.maps["alv_stats"]}
        ) as second:
            assert second.object.globals["alv_next_slot"] == 3
            assert second.counters()[Verdict.CONTINUE].packets == 1  # the counters are shared
            assert second.object.globals["key_fields"] == first.config.rodata()["key_fields"]


def test_a_program_outside_the_contract_is_reported() -> None:
    with pytest.raises(VnfContractError, match="no alv_stats map"):
        VnfInstance.load(_spec(progs.path("noop"), {"xdp": "xdp_noop", "tc": "tc_noop"}), "xdp")
    two = _spec(PROGS / "vnf_two_verdicts.bpf.c", {"xdp": "two_verdicts_xdp"})
    with VnfInstance.load(two, "xdp") as inst, pytest.raises(VnfContractError, match=r"\['PASS', 'DROP'\]"):
        inst.run(FRAME)


def test_map_entries_must_keep_naming_the_same_maps() -> None:
    class Shrinking(get("flowmon").config):  # type: ignore[misc, name-defined]
        def map_entries(self) -> dict:
            return {} if self.ignore else super().map_entries()

    spec = dataclasses.replace(get("flowmon"), config=Shrinking)
    with VnfInstance.load(spec, "xdp") as fm, pytest.raises(VnfContractError, match="same maps"):
        fm.apply({"ignore": ["198.18.0.0/24"]})
