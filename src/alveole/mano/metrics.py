"""Prometheus/OpenMetrics for MANO, read from the kernel at scrape time (nothing cached).

Per hop (one VNF on one interface and hook), from the VNF's ``alv_stats`` per-CPU
map, summed over CPUs:

* ``alveole_vnf_packets_total{ns, vnf, hook, interface, verdict}``
* ``alveole_vnf_bytes_total{ns, vnf, hook, interface, verdict}``

``vnf`` is the VNF profile (its instance name in the NS); per VNF across its hops is
``sum by (ns, vnf, verdict) (alveole_vnf_packets_total)``. Per chain:
``alveole_chain_attached`` and ``alveole_chain_in_sync`` (the kernel runs what the
NS instance wants; 0 calls for a heal). Per NS: ``alveole_ns_info`` (state labels).
Operations: ``alveole_ns_lcm_op_occs{operation, state}``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .lcm import Lcm
from .models import NsState

__all__ = ["HOP_LABELS", "ManoCollector"]

HOP_LABELS = ["ns", "vnf", "hook", "interface", "verdict"]
CHAIN_LABELS = ["ns", "forwarding_path", "hook", "interface"]


class ManoCollector(Collector):
    """Collects from the lifecycle manager ``get_lcm()`` returns (nothing while it is None)."""

    def __init__(self, get_lcm: Callable[[], Lcm | None]) -> None:
        self.get_lcm = get_lcm

    def _families(self) -> dict[str, Metric]:
        return {
            "packets": CounterMetricFamily(
                "alveole_vnf_packets", "packets per VNF hop and verdict (from alv_stats)", labels=HOP_LABELS
            ),
            "bytes": CounterMetricFamily(
                "alveole_vnf_bytes", "bytes per VNF hop and verdict (from alv_stats)", labels=HOP_LABELS
            ),
            "attached": GaugeMetricFamily(
                "alveole_chain_attached",
                "1 when the chain's dispatcher is attached to its hook",
                labels=CHAIN_LABELS,
            ),
            "in_sync": GaugeMetricFamily(
                "alveole_chain_in_sync",
                "1 when the kernel runs the chain the NS instance wants",
                labels=CHAIN_LABELS,
            ),
            "ns": GaugeMetricFamily(
                "alveole_ns_info", "NS instances", labels=["ns", "nsd", "state", "operational_state"]
            ),
            "ops": GaugeMetricFamily(
                "alveole_ns_lcm_op_occs",
                "operation occurrences by operation and state",
                labels=["operation", "state"],
            ),
            "scrape": GaugeMetricFamily(
                "alveole_mano_scrape_seconds", "time spent reading the kernel for this scrape"
            ),
        }

    def describe(self) -> Iterator[Metric]:
        yield from self._families().values()

    def collect(self) -> Iterator[Metric]:
        lcm = self.get_lcm()
        if lcm is None:
            return
        t0 = time.perf_counter()
        f = self._families()
        for ns in lcm.ns_list():
            f["ns"].add_metric([ns.nsInstanceName, ns.nsdId, ns.nsState.value, ns.operationalState], 1)
            if ns.nsState != NsState.INSTANTIATED:
                continue
            for report in lcm.chains(ns):
                cid = report.chain
                chain_labels = [ns.nsInstanceName, report.forwarding_path, cid.hook, cid.interface]
                f["attached"].add_metric(chain_labels, int(bool(report.view and report.view.attached)))
                f["in_sync"].add_metric(chain_labels, int(report.in_sync))
                if report.view is None:
                    continue
                for member in report.view.members:
                    for verdict, (packets, nbytes) in member.counters.items():
                        labels = [ns.nsInstanceName, member.instance, cid.hook, cid.interface, verdict]
                        f["packets"].add_metric(labels, packets)
                        f["bytes"].add_metric(labels, nbytes)
        counts = Counter((o.lcmOperationType.value, o.operationState.value) for o in lcm.ops())
        for (op, state), n in sorted(counts.items()):
            f["ops"].add_metric([op, state], n)
        f["scrape"].add_metric([], time.perf_counter() - t0)
        yield from f.values()
