"""How long MANO operations take here, next to the datapath doing the same change alone.

    sudo python -m alveole.mano.measure [--runs 7] [--json]

In a scratch namespace (a veth pair) with private bpffs/state folders: an NS of one
chain, flowmon (built in) then a no-op VNF (``alveole/progs/vnf_noop.bpf.c``
onboarded as a source VNFD in two versions). Each run deploys, changes and
terminates it; medians over the runs. The baselines are the same kernel changes
made through :class:`alveole.datapath.Datapath` directly (adopt + the chain call),
measured in the same run: the ratio is MANO's whole cost (validation, store,
host lock, journal, the chain adopted before each step) over the datapath's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["measure_operations"]


def _noop_vnfd(version: str) -> dict[str, Any]:
    from .. import progs

    return {
        "vnfdId": f"noop-{version}",
        "vnfProvider": "alveole",
        "vnfProductName": "noop",
        "vnfSoftwareVersion": version,
        "program": {"source": str(progs.path("vnf_noop")), "entries": {"xdp": "noop_xdp", "tc": "noop_tc"}},
        "supportedHooks": ["xdp", "tc-ingress", "tc-egress"],
    }


NSD = {
    "nsdId": "measure",
    "vnfProfiles": [
        {"vnfProfileId": "mon", "vnfdId": "flowmon", "config": {"table_size": 1024}},
        {"vnfProfileId": "nop", "vnfdId": "noop-1"},
    ],
    "virtualLinks": [{"virtualLinkId": "lan", "interfaces": ["alvm0"]}],
    "forwardingPaths": [{"forwardingPathId": "in", "virtualLinkId": "lan", "vnfProfileIds": ["mon", "nop"]}],
}


def measure_operations(runs: int = 7) -> dict[str, Any]:
    """Median milliseconds per operation (and per datapath baseline) over ``runs`` runs."""
    from ..datapath import ChainId, Datapath
    from ..system import netns as _netns
    from .driver import KernelDriver
    from .lcm import Lcm
    from .store import SqliteStore
    from .testing import isolated

    samples: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        samples.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    with (
        tempfile.TemporaryDirectory(prefix="alveole-measure-") as tmp,
        _netns.scratch("alvm") as ns,
        isolated(Path(tmp) / "state") as iso,
    ):
        _netns.add_veth(ns, "alvm0", "alvm1", ipv6=False)
        lcm = Lcm(SqliteStore(iso.db), KernelDriver())
        lcm.onboard_vnfd(_noop_vnfd("1"))
        lcm.onboard_vnfd(_noop_vnfd("2"))
        cid = ChainId("alvm0", "xdp", ns)
        spec = lcm._spec_cache()
        for i in range(runs):
            with timed("deploy"):
                lcm.deploy([NSD], netns=ns, name="measure")
            with timed("update_config_map_diff"):
                lcm.modify_config("measure", {"mon": {"ignore": [f"198.18.{i}.0/24"]}})
            mon = lcm.ns("measure").vnf("mon")
            for config in ({"table_size": 1024, "ignore": [f"198.19.{i}.0/24"]}, mon.config):
                with Datapath(lcm.resolve_record) as dp, timed("baseline_reconfigure"):
                    dp.get(cid).reconfigure("mon", spec(mon.model_copy(update={"config": config})))
            with timed("update_change_package"):
                lcm.change_package("measure", {"nop": "noop-2"})
            nop = lcm.ns("measure").vnf("nop")
            for vnfd_id in ("noop-1", "noop-2"):
                with Datapath(lcm.resolve_record) as dp, timed("baseline_update"):
                    dp.get(cid).update("nop", spec(nop.model_copy(update={"vnfdId": vnfd_id})))
            with timed("heal_restore"):
                lcm.heal("measure")
            with timed("operate_stop"):
                lcm.operate("measure", "STOPPED")
            with timed("operate_start"):
                lcm.operate("measure", "STARTED")
            with timed("terminate"):
                lcm.terminate("measure")
            lcm.delete_ns("measure")
    med = {k: round(statistics.median(v), 2) for k, v in samples.items()}
    return {
        "runs": runs,
        "median_ms": med,
        "ratio_config_map_diff": round(med["update_config_map_diff"] / med["baseline_reconfigure"], 2),
        "ratio_change_package": round(med["update_change_package"] / med["baseline_update"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure_operations(args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, ms in result["median_ms"].items():
        print(f"{name:28s} {ms:9.2f} ms")
    print(f"MANO / datapath, config as map diffs: {result['ratio_config_map_diff']:.2f}x")
    print(f"MANO / datapath, change package:      {result['ratio_change_package']:.2f}x")


if __name__ == "__main__":
    main()
