"""The firewall in the kernel: fixtures, the decision trees against the linear model on random
rule sets, live rule set updates (double buffering, stable hit counters), C/Python constants."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from alveole.bpf import BtfKind, XdpAction
from alveole.errors import ReloadRequiredError
from alveole.vnf import Verdict, VnfInstance, compare, get, run_fixtures
from alveole.vnf.firewall import FirewallConfig, default_hits, other_counts, rule_hits, top_rules
from alveole.vnf.firewall import classifier as C
from alveole.vnf.firewall.generate import frame_of, probe_keys, random_rules, rules_within
from alveole.vnf.firewall.match import first_match, key_of
from alveole.vnf.firewall.tables import OTHER_REASONS
from alveole.vnf.parse import parse

SPEC = get("firewall")
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _tcp(src: str, dport: int, dst: str = "198.19.0.1") -> bytes:
    return bytes(ETH / IP(src=src, dst=dst) / TCP(sport=40000, dport=dport))


def test_fixture_table_passes_on_both_hooks() -> None:
    results = run_fixtures(SPEC, timing_repeat=10)
    failed = [(r.hook, r.description, r.problems) for r in results if not r.ok]
    assert not failed
    assert {r.hook for r in results} == {"xdp", "tc"}
    assert len(results) == 2 * len(SPEC.fixtures())  # no "state" rows: the hit counters agreed


def test_c_constants_match_python() -> None:
    with VnfInstance.load("firewall", "xdp") as inst:
        btf = inst.object.btf
        assert btf is not None

        def enum(name: str) -> dict[str, int]:
            return {m.name: m.value for m in btf.type(btf.find(name, BtfKind.ENUM)).members}

        assert enum("fw_limits") == {
            "FW_DEPTH_MAX": C.DEPTH_MAX,
            "FW_LEAF_MAX": C.LEAF_MAX,
            "FW_TREES_MAX": C.TREES_MAX,
            "FW_PROTO_CLASSES": C.PROTO_CLASSES,
            "FW_KEY_WORDS": C.KEY_WORDS,
            "FW_LEAF_BLOCK": C.LEAF_BLOCK,
            "FW_LEAF_INLINE": C.LEAF_INLINE,
        }
        reasons = {f"FW_{name.upper()}": i for i, name in enumerate(OTHER_REASONS)}
        assert enum("fw_other_reason") == {**reasons, "FW_OTHER_MAX": len(OTHER_REASONS)}


@pytest.mark.parametrize(
    ("n", "ipv6", "hook"), [(300, 0.3, "xdp"), (300, 0.3, "tc"), (3000, 0.0, "xdp"), (2000, 1.0, "xdp")]
)
def test_trees_agree_with_the_linear_model(n: int, ipv6: float, hook: str) -> None:
    """Random overlapping rule sets; packets inside rules and anywhere: verdicts and per-rule hits.
    The larger sets have three trees per class (IPv4, then IPv6), so final rules end walks."""
    cfg = FirewallConfig(rules=random_rules(n, seed=n + 7, ipv6=ipv6), default="drop")
    keys = probe_keys(list(cfg.matches), 250, seed=n) + probe_keys(list(cfg.matches), 100, seed=n, family=6)
    frames = [(f"probe {i}", frame_of(k)) for i, k in enumerate(keys)]
    result = compare(SPEC, frames, hook=hook, config=cfg)
    assert result.ok, result.report()
    assert result.verdicts.get(Verdict.CONTINUE) and result.verdicts.get(Verdict.DROP)


def test_roots_with_a_third_cut_agree_with_the_linear_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Third cuts at the roots (large trees only) forced on a small rule set; packets inside the
    rules' 198.18.0.0/16 (root blocks) and outside (the third check's miss path)."""
    monkeypatch.setattr(C, "ROOT3_MIN", 32)
    monkeypatch.setattr(C, "ROOT3_SPREAD", 0.0)
    cfg = FirewallConfig(rules=rules_within(6000, "198.18.0.0/16", seed=3), default="drop")
    assert any(r.kmask3 and r.cmask3 for trees in cfg.classifier.roots.values() for r, _ in trees)
    keys = probe_keys(list(cfg.matches), 300, seed=4)
    keys += [dataclasses.replace(k, dst=k.dst | 0x10000) for k in keys[:150]]  # 198.19/16
    frames = [(f"probe {i}", frame_of(k)) for i, k in enumerate(keys)]
    result = compare(SPEC, frames, hook="xdp", config=cfg)
    assert result.ok, result.report()


def test_rule_set_updates_flip_halves_and_keep_counters() -> None:
    v1 = {
        "default": "drop",
        "rules": [
            {"id": "ssh", "src": "198.18.1.0/24", "proto": "tcp", "dport": 22, "action": "accept"},
            {"proto": "tcp", "dport": 80, "action": "accept"},  # identity: its match and action
            {"id": "old", "proto": "tcp", "dport": 25, "action": "accept"},
        ],
    }
    with VnfInstance.load("firewall", "xdp", v1) as fw:
        conf = fw.maps["fw_conf"]
        assert conf[0].active == 1  # the load wrote half 1 and flipped to it
        for dport, times in ((22, 3), (80, 2), (25, 1)):
            for _ in range(times):
                assert fw.run(_tcp("198.18.1.5", dport)).verdict == Verdict.CONTINUE
        assert fw.run(_tcp("198.18.1.5", 443)).verdict == Verdict.DROP
        assert fw.apply(v1)["fw_ids"] == (0, 0, 0)  # nothing to do: the active half holds it
        assert conf[0].active == 1

        v2 = {
            "default": "accept",
            "rules": [
                {"id": "block", "src": "198.18.9.0/24", "action": "drop", "priority": -1},
                {"proto": "tcp", "dport": 80, "action": "accept"},
                {"id": "ssh", "src": "198.18.2.0/24", "proto": "tcp", "dport": 22, "action": "accept"},
            ],
        }
        changed = fw.apply(v2)
        assert changed["fw_ids"] == (1, 0, 1)  # "block" came, "old" went
        assert conf[0].active == 0
        assert fw.run(_tcp("198.18.9.9", 80)).verdict == Verdict.DROP
        assert fw.run(_tcp("198.18.1.5", 443)).verdict == Verdict.CONTINUE  # the new default
        assert fw.run(_tcp("198.18.2.5", 22)).verdict == Verdict.CONTINUE
        cfg2 = SPEC.validate(v2)
        hits = {h.rule.id or h.rule.describe(): h.packets for h in rule_hits(fw, cfg2)}
        # "ssh" changed its match but kept its id: 3 + 1; port 80 kept its identity: 2; "block" is new: 1
        assert hits == {"block": 1, "accept tcp any -> any dport 80": 2, "ssh": 4}
        assert default_hits(fw)[0] == 2  # one miss under v1, one under v2
        assert [h.rule.id for h in top_rules(rule_hits(fw, cfg2), 1)] == ["ssh"]
        assert other_counts(fw) == dict.fromkeys(OTHER_REASONS, (0, 0))

        fw.apply(v1)  # back: "old" is a new rule again, with a fresh counter
        hits1 = {h.rule.id: h.packets for h in rule_hits(fw, SPEC.validate(v1)) if h.rule.id}
        assert hits1 == {"ssh": 4, "old": 0}
        assert conf[0].active == 1


def test_growing_past_the_tables_needs_a_reload() -> None:
    with VnfInstance.load("firewall", "xdp", {"rules": random_rules(100, seed=1)}) as fw:
        fw.apply({"rules": random_rules(900, seed=1)})  # same size class: a diff
        with pytest.raises(ReloadRequiredError, match="fw_rules"):
            fw.apply({"rules": random_rules(3000, seed=1)})


def test_updates_are_atomic_for_packets_in_flight() -> None:
    """A thread runs one frame without pause while two very different rule sets alternate: every
    run is decided by the rule of one set or the other, never by a half-written classifier."""
    frame = bytes(ETH / IP(src="198.18.7.7", dst="198.19.7.7") / UDP(sport=4444, dport=7777))
    # IPv6 rules that fill the IPv6 trees: the IPv4 frame's decision depends on "a" or "b" only,
    # while every update rewrites thousands of entries around them
    fillers = [r for r in random_rules(2000, seed=3, ipv6=1.0) if "src" in r or "dst" in r][:1500]
    rule_a = {"id": "a", "dport": 7777, "proto": "udp", "action": "accept"}
    rule_b = {"id": "b", "src": "198.18.7.0/24", "action": "drop"}
    # both rules in both sets (their counters persist), in opposite orders, fillers reversed
    a = {"default": "drop", "rules": [*fillers, rule_a, rule_b]}
    b = {"default": "accept", "rules": [rule_b, *fillers[::-1], rule_a]}
    cfg_a, cfg_b = SPEC.validate(a), SPEC.validate(b)
    assert cfg_a.classifier and cfg_b.classifier  # compile outside the timed loop
    stop = threading.Event()
    runs: list[int] = []
    with VnfInstance.load("firewall", "xdp", a) as fw:
        # the frame must be decided by "a" (rank last) or "b" (rank first), never by a filler
        for cfg in (cfg_a, cfg_b):
            rank = first_match(cfg.matches, key_of(parse(frame)))  # type: ignore[arg-type]
            assert cfg.rules[cfg.ordered[rank]].id in ("a", "b")  # type: ignore[index]

        ran = threading.Semaphore(0)

        def hammer() -> None:
            while not stop.is_set():
                res = fw.program.run(frame, repeat=64)
                runs.append(64 if res.verdict in (XdpAction.PASS, XdpAction.DROP) else 0)
                ran.release()

        t = threading.Thread(target=hammer)
        t.start()
        try:
            for i in range(8):
                assert ran.acquire(timeout=10)  # packets ran under the previous rule set
                fw.apply(b if i % 2 == 0 else a)
            assert ran.acquire(timeout=10)
        finally:
            stop.set()
            t.join()
        total = sum(runs)
        hits = {h.rule.id: h.packets for h in rule_hits(fw, cfg_a) if h.rule.id}
        assert total > 0 and all(runs)
        assert hits["a"] + hits["b"] == total and hits["a"] and hits["b"]
        assert default_hits(fw)[0] == 0
        assert sum(h.packets for h in rule_hits(fw, cfg_a) if not h.rule.id) == 0  # no filler decided
