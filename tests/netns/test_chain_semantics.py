"""Chain semantics on XDP and TC, and transactional changes with failures injected at each step."""

from __future__ import annotations

import pytest

from alveole.bpf import TcAction, XdpAction
from alveole.datapath import ChainError, ChainId, MemberSpec, ProbeFailedError
from alveole.errors import AlveoleError, VerifierError

from .chainkit import DROP, PASS, PROGS, hop, pin_tree

PKT = bytes(64)


def _trace(chain) -> tuple[object, bytes]:
    res = chain.dispatcher.run(PKT)
    return res.verdict, res.data[14:20].rstrip(b"\0")


def test_xdp_order_continue_and_terminal_verdicts(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("a", hop(1)), ("b", hop(2)), ("c", hop(3))])
    assert _trace(chain) == (XdpAction.PASS, b"\x01\x02\x03")  # all ran, in order, then the end verdict
    chain.move("c", 0)
    assert _trace(chain) == (XdpAction.PASS, b"\x03\x01\x02")
    chain.insert("stop", hop(9, verdict=DROP), 1)  # DROP ends the chain where it is
    assert _trace(chain) == (XdpAction.DROP, b"\x03\x09")
    chain.replace("stop", "ok", hop(8, verdict=PASS))  # so does PASS
    assert _trace(chain) == (XdpAction.PASS, b"\x03\x08")
    chain.remove("ok")
    chain.set_end("drop")  # after the last VNF: the chain's end verdict
    assert _trace(chain) == (XdpAction.DROP, b"\x03\x01\x02")
    counters = chain.counters()
    assert counters["c"]["continue"][0] == 5 and counters["a"]["continue"][0] == 3


def test_empty_chain_applies_the_end_verdict(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [], end="pass")
    assert _trace(chain) == (XdpAction.PASS, b"")
    chain.set_end("drop")
    assert _trace(chain) == (XdpAction.DROP, b"")


@pytest.mark.parametrize("hook", ["tc-ingress", "tc-egress"])
def test_tc_chains(dp, veth, hook: str) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, hook, ns), [("a", hop(1)), ("b", hop(2))])
    assert chain.link.info().type.name == "TCX"
    assert _trace(chain) == (TcAction.OK, b"\x01\x02")
    chain.insert("d", hop(4, verdict=DROP), 1)
    assert _trace(chain) == (TcAction.SHOT, b"\x01\x04")


def _snapshot(dp, chain) -> tuple:
    return (
        [m.program.id for m in chain.members],
        chain.slots.program_ids(),
        chain.slots.active_gen,
        _trace(chain),
        pin_tree(dp.bpffs),
        dp._paths(chain.cid).record.read_text(),
    )


def _bad_probe(hook: str) -> list[str]:
    return ["fixture 'drop telnet': expected DROP, got PASS"]


@pytest.mark.parametrize(
    ("label", "spec", "error"),
    [
        (
            "verifier rejection",
            MemberSpec("bad", "1", PROGS / "bad_vnf.bpf.c", {"xdp": "bad_xdp"}),
            VerifierError,
        ),
        (
            "failed probe",
            MemberSpec("hop", "9", PROGS / "hop.bpf.c", {"xdp": "hop_xdp"}, probe=_bad_probe),
            ProbeFailedError,
        ),
        (
            "missing map",
            MemberSpec(
                "hop", "9", PROGS / "hop.bpf.c", {"xdp": "hop_xdp"}, map_entries={"no_such_map": {1: 1}}
            ),
            AlveoleError,
        ),
        (
            "no entry for the hook",
            MemberSpec("hop", "9", PROGS / "hop.bpf.c", {"tc": "hop_tc"}),
            AlveoleError,
        ),
    ],
)
def test_a_failed_change_leaves_the_old_chain_and_nothing_behind(dp, veth, label, spec, error) -> None:
    from tests.kernel.helpers import bpf_fd_kinds

    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("a", hop(1)), ("b", hop(2))])
    before, fds = _snapshot(dp, chain), bpf_fd_kinds()
    with pytest.raises(error):
        chain.insert("new", spec, 1)
    assert _snapshot(dp, chain) == before, label
    assert bpf_fd_kinds() == fds  # no program or map of the failed attempt left open
    with pytest.raises(error):
        chain.replace("b", "new", spec)
    with pytest.raises(error):
        chain.update("b", spec)
    assert _snapshot(dp, chain) == before, label
    assert bpf_fd_kinds() == fds


def test_refused_operations_name_the_problem(dp, veth) -> None:
    ns, dev, _ = veth
    chain = dp.create(ChainId(dev, "xdp", ns), [("a", hop(1))])
    with pytest.raises(ChainError, match="already has a member 'a'"):
        chain.insert("a", hop(2))
    with pytest.raises(ChainError, match="no member 'zz'"):
        chain.remove("zz")
    with pytest.raises(ValueError, match="invalid instance name"):
        chain.insert("bad.name", hop(2))
    with pytest.raises(ChainError, match="already exists"):
        dp.create(ChainId(dev, "xdp", ns), [])
