"""``alveole bench chain`` and ``alveole bench update``: what chaining costs, and live update under load.

* chain: kernel-timed ns/packet (test_run through the chain's dispatcher) for the
  floor (an XDP no-op alone), an empty chain, chains of 1, 3 and 5 no-op VNFs;
  the per-hop cost is the slope between 1 and 5 hops. Catalog VNFs, when present,
  add firewall → ddos guard → flow monitor against the sum of each alone.
* update: the in-kernel generator offers traffic through a veth pair into a
  3-VNF chain (ending in drop) while the middle VNF is live-updated N times;
  received is counted by the last VNF's per-hop counters.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import progs
from ..datapath import Chain, ChainId, ChainPaths, MemberSpec
from ..system import netns
from ..toolchain import open_source
from .floor import test_run_ns

__all__ = ["measure_chain", "measure_update", "noop_member"]

_FRAME = bytes.fromhex("020000000002020000000001080045000032000100004011") + bytes(50)


def noop_member(version: str = "1") -> MemberSpec:
    return MemberSpec("noop", version, progs.path("vnf_noop"), {"xdp": "noop_xdp", "tc": "noop_tc"})


@contextmanager
def scratch_chain_host() -> Iterator[tuple[str, str, str, Path, Path]]:
    """A namespace with a veth pair, and private bpffs/state roots for benchmark chains."""
    import secrets
    import shutil
    import tempfile

    bpffs = Path(f"/sys/fs/bpf/alvbench-{secrets.token_hex(4)}")
    state = Path(tempfile.mkdtemp(prefix="alvbench-"))
    with netns.scratch("alvbench") as ns:
        netns.add_veth(ns, "alvb0", "alvb1", ipv6=False)
        try:
            yield ns, "alvb0", "alvb1", bpffs, state
        finally:
            shutil.rmtree(bpffs, ignore_errors=True)
            shutil.rmtree(state, ignore_errors=True)


def measure_chain(repeat: int = 1 << 20, runs: int = 5) -> dict[str, Any]:
    results: dict[str, float] = {}
    with open_source(progs.path("noop")) as floor:
        floor.load()
        results["floor"] = test_run_ns(floor.program("xdp_noop"), _FRAME, repeat, runs)
    with scratch_chain_host() as (ns, dev, _peer, bpffs, state):
        paths = ChainPaths(ChainId(dev, "xdp", ns), bpffs, state)
        chain = Chain.create(ChainId(dev, "xdp", ns), [], end="pass", paths=paths)
        try:
            results["chain-0"] = test_run_ns(chain.dispatcher, _FRAME, repeat, runs)
            for n in (1, 3, 5):
                chain.set_members([(f"noop{i}", noop_member()) for i in range(n)])
                results[f"chain-{n}"] = test_run_ns(chain.dispatcher, _FRAME, repeat, runs)
            results.update(_catalog_triple(chain, repeat, runs))
        finally:
            chain.delete()
    per_hop = (results["chain-5"] - results["chain-1"]) / 4
    return {
        "floor_ns": results["floor"],
        "results": [{"name": k, "ns": v} for k, v in results.items() if k != "floor"],
        "per_hop_ns": per_hop,
        "repeat": repeat,
        "runs": runs,
    }


def _catalog_triple(chain: Chain, repeat: int, runs: int) -> dict[str, float]:
    """firewall → ddos guard → flow monitor, against the sum of the three alone."""
    from ..datapath.catalog import default_member
    from ..errors import UnknownVnfError

    names = ("firewall", "ddos", "flowmon")
    try:
        specs = [(n, default_member(n)) for n in names]
    except UnknownVnfError:  # not all in the catalog yet
        return {}
    chain.set_members(specs)
    out = {"firewall>ddos>flowmon": test_run_ns(chain.dispatcher, _FRAME, repeat, runs)}
    alone = 0.0
    for name, spec in specs:
        chain.set_members([(name, spec)])
        ns = test_run_ns(chain.dispatcher, _FRAME, repeat, runs)
        out[f"{name}-alone"] = ns
        alone += ns
    out["sum-alone"] = alone
    return out


def measure_update(updates: int = 100, rate: float = 1_000_000, settle: float = 0.2) -> dict[str, Any]:
    """Live-update the middle VNF of a 3-VNF chain ``updates`` times under ``rate`` frames/s."""
    from ..trafficgen import Generator, templates

    with scratch_chain_host() as (ns, rx, tx, bpffs, state):
        cid = ChainId(rx, "xdp", ns)
        chain = Chain.create(
            cid,
            [("first", noop_member()), ("middle", noop_member()), ("last", noop_member())],
            end="drop",
            paths=ChainPaths(cid, bpffs, state),
        )
        try:
            swaps: list[float] = []
            result: dict[str, Any] = {}
            stop = threading.Event()
            with Generator(tx, templates.udp(), netns=ns, flows=64) as gen:
                sender = threading.Thread(target=lambda: result.update(report=gen.send(rate=rate, stop=stop)))
                sender.start()
                try:
                    time.sleep(settle)
                    for i in range(updates):
                        swaps.append(chain.update("middle", noop_member(f"1.{i + 1}")).swap_ms)
                    time.sleep(settle)
                finally:
                    stop.set()
                    sender.join()
            time.sleep(0.05)
            report = result["report"]
            received = chain.member("last").counters()["continue"][0]
            return {
                "updates": len(swaps),
                "sent": report.sent,
                "received": received,
                "lost": report.sent - received,
                "tx_dropped": report.tx_dropped,  # of the lost: the veth's ring was full (see SendReport)
                "offered_pps": round(report.pps),
                "swap_ms_median": statistics.median(swaps) if swaps else None,
                "swap_ms_max": max(swaps) if swaps else None,
            }
        finally:
            chain.delete()
