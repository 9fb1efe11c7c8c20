"""The ``chain3`` row of ``alveole bench throughput``: a real service chain as the DUT.

The chain is built by the datapath (:class:`alveole.datapath.Chain`: the dispatcher on
the DUT's XDP hook, each member loaded for its slot and tail-calling the next), not by
merging programs: the figure is what our chain mechanism costs on top of its VNFs.

* firewall: the ``firewall-1k`` rules (``firewall_policy(1000)``), but ``default:
  accept``: the measured traffic (198.18.0.1 -> port 9) matches no rule, so the
  firewall looks through its classifier and the frame continues;
* ddos guard: a blocklist of prefixes the traffic is not in, the SYN limit on (the
  traffic is UDP: looked at, never limited);
* flow monitor: default config (the 5-tuple, so the traffic's flows are tracked);
* the chain's end verdict: drop.

Processed = frames the last member saw (all its verdicts): frames that went through
the whole chain. The chain's pins live under a private ``/sys/fs/bpf/alvbench-*`` root
and its record in a private ``alvbench-*`` directory, both removed after the row.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..datapath import Chain, ChainId, ChainPaths, MemberSpec
from . import policy as pol
from .bed import GEN_ADDR, Bed
from .dut import BenchError, Dut

__all__ = ["CHAIN3", "Chain3Dut", "chain3_members", "private_paths", "register_rows"]

CHAIN3 = ("firewall", "ddos", "flowmon")
BLOCKLIST_SIZE = 64  # prefixes in the ddos guard's blocklist


@contextlib.contextmanager
def private_paths(cid: ChainId) -> Iterator[ChainPaths]:
    """Pin and record roots of a benchmark chain (``/sys/fs/bpf/alvbench-*``, a temporary
    ``alvbench-*`` directory), removed after the block whatever happened: a benchmark chain
    never mixes with the host's chains, nor outlives the benchmark."""
    bpffs = Path(f"/sys/fs/bpf/alvbench-{secrets.token_hex(4)}")
    state = Path(tempfile.mkdtemp(prefix="alvbench-"))
    try:
        yield ChainPaths(cid, bpffs, state)
    finally:
        shutil.rmtree(bpffs, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


def _blocklist(n: int = BLOCKLIST_SIZE) -> list[str]:
    """``n`` prefixes of 198.18.128.0/17 (/24s and /32s): test addresses the traffic never uses."""
    src = ipaddress.IPv4Address(GEN_ADDR)
    out: list[str] = []
    for i in range(n):
        net = (
            ipaddress.IPv4Network((f"198.18.{128 + i}.0", 24))
            if i % 2
            else ipaddress.IPv4Network((f"198.18.{128 + i}.{i + 1}", 32))
        )
        assert src not in net
        out.append(str(net))
    return out


def chain3_members(rules: int = 1000) -> list[tuple[str, MemberSpec]]:
    """(instance, member) of the chain3 row, in chain order."""
    from ..datapath.catalog import member_for
    from ..vnf.firewall.dut import policy_config

    fw = policy_config(pol.firewall_policy(rules)).model_dump(mode="json")
    fw["default"] = "accept"  # no rule matches the traffic: it continues down the chain
    return [
        ("alvfw", member_for("firewall", fw)),
        ("alvddos", member_for("ddos", {"blocklist": _blocklist(), "syn_rate": 100})),
        ("alvflow", member_for("flowmon", None)),
    ]


def chain3_ready() -> str | None:
    """Why the row cannot run here (a VNF of the chain is not in the catalog), or None."""
    from ..vnf.catalog import catalog

    missing = [n for n in CHAIN3 if n not in catalog()]
    return f"the catalog has no {', '.join(missing)}" if missing else None


class Chain3Dut(Dut):
    """firewall -> ddos guard -> flow monitor, a datapath chain on the DUT's ingress, dropping at its end."""

    def __init__(self, rules: int = 1000) -> None:
        self.rules = rules
        self._chain: Chain | None = None
        self._roots = contextlib.ExitStack()

    def setup(self, bed: Bed) -> None:
        cid = ChainId(bed.dut_in, "xdp", bed.dut_ns)
        try:
            paths = self._roots.enter_context(private_paths(cid))
            self._chain = Chain.create(
                cid, chain3_members(self.rules), end="drop", xdp_mode="native", paths=paths
            )
        except BaseException:
            self.teardown()
            raise

    @property
    def chain(self) -> Chain:
        if self._chain is None:
            raise BenchError("chain3 is not set up")
        return self._chain

    def processed(self) -> int:
        last = self.chain.members[-1]
        return sum(p for p, _ in last.counters().values())

    def arrivals(self) -> int:
        first = self.chain.members[0]
        return sum(p for p, _ in first.counters().values())

    def teardown(self) -> None:
        try:
            if self._chain is not None:
                chain, self._chain = self._chain, None
                chain.delete()  # detaches the link, unpins, removes the record
        finally:
            self._roots.close()  # the private pin and record roots

    def details(self) -> dict[str, Any]:
        chain = self.chain
        hops = {m.spec.vnf: m.counters() for m in chain.members}
        # frames a member ended before the chain's end (none expected: the traffic goes through)
        early = sum(
            p
            for vnf, c in hops.items()
            if vnf != chain.members[-1].spec.vnf
            for v, (p, _) in c.items()
            if v != "continue"
        )
        return {
            "rules": self.rules,
            "program": ">".join(m.spec.vnf for m in chain.members),
            "end": chain.end,
            "blocklist": BLOCKLIST_SIZE,
            "ended_early": early,
        }


def register_rows() -> None:
    """Register ``chain3`` (called by alveole.bench.throughput)."""
    from .throughput import Row, register

    register(
        Row(
            "chain3",
            "alveole chain: firewall (1k rules, no match) -> ddos guard -> flow monitor, end drop",
            "terminal",
            lambda n: Chain3Dut(n),
            rules=1000,
            ready=chain3_ready,
        )
    )
