"""Live update: state kept (or migrated, or refused), and the chain survives its controller."""

from __future__ import annotations

import pytest

from alveole.bpf import XdpAction
from alveole.datapath import DROP as DROP_STATE
from alveole.datapath import Chain, ChainId, IncompatibleMapError, raw_resolver

from .chainkit import hop, state

PKT = bytes.fromhex("0200000000020200000000070800") + bytes(50)  # source MAC ends in 07


def _seen(chain: Chain, instance: str) -> dict[int, tuple]:
    return {k: tuple(v) for k, v in chain.member(instance).maps["seen_by_src"].items()}


def test_update_keeps_map_state_and_counters(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(
        ChainId(dev, "xdp", ns), [("a", hop(1, mark=0)), ("s", state(1)), ("z", hop(3, mark=0))]
    )
    chain.dispatcher.run(PKT, repeat=5)
    assert _seen(chain, "s") == {7: (5,)}
    old_id = chain.member("s").program.id
    report = chain.update("s", _v1_again())
    assert report.old_prog_id == old_id and report.new_prog_id != old_id
    assert report.reused == ["alv_stats", "seen_by_src"] and report.migrated == []
    chain.dispatcher.run(PKT, repeat=2)
    assert _seen(chain, "s") == {7: (7,)}  # the same map, now updated by the new program
    assert chain.counters()["s"]["continue"][0] == 7  # per-hop counters survived too
    assert chain.slots.program_ids()[1] == report.new_prog_id


def _v1_again():
    spec = state(1)
    return type(spec)(spec.vnf, "1.1", spec.source, spec.entries)


def test_incompatible_map_is_refused_and_old_state_intact(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("s", state(1))])
    chain.dispatcher.run(PKT, repeat=3)
    before = chain.member("s").program.id
    with pytest.raises(IncompatibleMapError, match=r"map 'seen_by_src': value_size 8 -> 16"):
        chain.update("s", state(2))
    assert chain.member("s").program.id == before == chain.slots.program_ids()[0]
    chain.dispatcher.run(PKT)
    assert _seen(chain, "s") == {7: (4,)}


def test_declared_migration_converts_the_entries(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("s", state(1))])
    chain.dispatcher.run(PKT, repeat=3)

    def add_bytes(entries):
        return [(k, {"packets": v.packets, "bytes": 0}) for k, v in entries]

    report = chain.update("s", state(2, migrations={"seen_by_src": add_bytes}))
    assert report.migrated == ["seen_by_src"]
    chain.dispatcher.run(PKT, repeat=2)
    assert _seen(chain, "s") == {7: (5, 2 * len(PKT))}


def test_declared_drop_discards_a_map_on_purpose(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("s", state(1))])
    chain.dispatcher.run(PKT, repeat=3)
    report = chain.update("s", state(2, migrations={"seen_by_src": DROP_STATE}))
    assert report.dropped == ["seen_by_src"]
    chain.dispatcher.run(PKT)
    assert _seen(chain, "s") == {7: (1, len(PKT))}


def test_restart_readopts_the_same_objects(dp, veth) -> None:
    ns, dev, _ = veth
    cid = ChainId(dev, "xdp", ns)
    chain = dp.create(cid, [("a", hop(1)), ("s", state(1))], end="drop")
    ids = ([m.program.id for m in chain.members], chain.link.id, chain.dispatcher.id)
    chain.close()  # the process lets go: everything stays pinned and attached
    dp._chains.clear()
    again, repairs = Chain.adopt(cid, raw_resolver, dp._paths(cid))
    dp._chains[cid] = again
    assert repairs == []
    assert ([m.program.id for m in again.members], again.link.id, again.dispatcher.id) == ids
    assert again.end == "drop"
    assert again.dispatcher.run(PKT).verdict == XdpAction.DROP


def test_adoption_repairs_drift(dp, veth) -> None:
    import os

    ns, dev, _ = veth
    cid = ChainId(dev, "xdp", ns)
    chain = dp.create(cid, [("a", hop(1)), ("b", hop(2))])
    link_id = chain.link.id
    paths = dp._paths(cid)
    chain.link.detach()  # someone detached the hook
    os.unlink(paths.member_prog("b"))  # and a pin vanished
    chain.close()
    dp._chains.clear()
    again, repairs = Chain.adopt(cid, raw_resolver, paths)
    dp._chains[cid] = again
    what = " | ".join(r.what for r in repairs)
    assert "reloaded member b" in what and "re-attached the dispatcher" in what
    assert again.link.id != link_id and again.link.info().ifindex
    res = again.dispatcher.run(bytes(64))
    assert res.data[14:16] == b"\x01\x02"


def test_a_resized_map_is_refused_unless_copied(dp, veth) -> None:
    from alveole.datapath import COPY

    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("s", state(1))])
    chain.dispatcher.run(PKT, repeat=3)
    with pytest.raises(IncompatibleMapError, match="max_entries 256 -> 1024"):
        chain.update("s", state(1, map_sizes={"seen_by_src": 1024}))
    report = chain.update("s", state(1, map_sizes={"seen_by_src": 1024}, migrations={"seen_by_src": COPY}))
    assert report.migrated == ["seen_by_src"]
    assert chain.member("s").maps["seen_by_src"].max_entries == 1024
    chain.dispatcher.run(PKT)
    assert _seen(chain, "s") == {7: (4,)}


def test_a_group_shares_maps_across_chains(dp, veth) -> None:
    import dataclasses

    ns, a, b = veth
    shared = dataclasses.replace(state(1), group="g1", shared=("seen_by_src",))
    first = dp.create(ChainId(a, "xdp", ns), [("s", shared)])
    second = dp.create(ChainId(b, "xdp", ns), [("s", shared)])
    first.dispatcher.run(PKT, repeat=3)
    second.dispatcher.run(PKT, repeat=2)
    assert _seen(first, "s") == _seen(second, "s") == {7: (5,)}  # one map, two hooks
    assert first.member("s").maps["seen_by_src"].id == second.member("s").maps["seen_by_src"].id
    assert first.member("s").maps["alv_stats"].id != second.member("s").maps["alv_stats"].id  # not shared
    group_dir = dp.bpffs / "groups" / "g1"
    assert (group_dir / "seen_by_src").exists()
    with pytest.raises(Exception, match="shared by group"):
        chain_update_v2 = dataclasses.replace(
            state(2, migrations={"seen_by_src": DROP_STATE}), group="g1", shared=("seen_by_src",)
        )
        first.update("s", chain_update_v2)
    first.remove("s")
    assert group_dir.exists()  # the other member still uses it
    dp.delete(second.cid)
    assert not group_dir.exists()
