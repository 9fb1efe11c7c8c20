"""``alveole bench scaling``: Mpps and ns/packet against the number of rules, per peer.

Each peer is a row factory taking a rule count (the same :func:`policy.firewall_policy`
for all); a point a peer cannot load (error, or longer than the load timeout) is
reported as skipped with the reason, never left out silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from . import policy as pol
from .dut import BenchError, Dut, IptablesDut, NftablesDut
from .throughput import Row, Settings, measure_row, sig

__all__ = ["PENDING_SERIES", "RULE_COUNTS", "SERIES", "Series", "measure_scaling", "register_series"]

RULE_COUNTS = (10, 100, 1_000, 10_000, 100_000)
QUICK_RULE_COUNTS = (10, 100)


@dataclass(frozen=True)
class Series:
    name: str
    description: str
    make: Callable[[int], Dut]
    max_rules: int = 100_000  # larger counts are skipped ("cannot load")


SERIES: dict[str, Series] = {}
PENDING_SERIES: dict[str, str] = {"firewall": "the alveole firewall VNF"}


def register_series(series: Series) -> Series:
    SERIES[series.name] = series
    PENDING_SERIES.pop(series.name, None)
    return series


register_series(
    Series("iptables", "iptables, linear INPUT rules", lambda n: IptablesDut(pol.firewall_policy(n)))
)
register_series(
    Series(
        "nftables", "nftables, linear input rules", lambda n: NftablesDut(pol.firewall_policy(n), "linear")
    )
)
register_series(
    Series(
        "nftables-set",
        "nftables, concatenated interval sets",
        lambda n: NftablesDut(pol.firewall_policy(n), "set"),
    )
)


def _vnf_series() -> None:
    """Series of catalog VNFs, registered by the VNF's own module (imported late: it imports bench)."""
    from ..vnf.firewall.dut import register_series as firewall_series

    firewall_series()


_vnf_series()


def measure_scaling(
    names: Iterable[str] | None = None,
    counts: Iterable[int] = RULE_COUNTS,
    settings: Settings = Settings(),
    *,
    on_point: Callable[[str, int, float | None, str | None], None] | None = None,
) -> dict[str, Any]:
    wanted = list(names) if names is not None else [*SERIES, *PENDING_SERIES]
    counts = list(counts)
    series_out: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for name in wanted:
        if name in PENDING_SERIES and name not in SERIES:
            skipped.append({"name": name, "reason": f"pending: needs {PENDING_SERIES[name]}"})
            if on_point:
                for n in counts:
                    on_point(name, n, None, skipped[-1]["reason"])
            continue
        if name not in SERIES:
            raise KeyError(f"no scaling series {name!r} (have: {', '.join([*SERIES, *PENDING_SERIES])})")
        s = SERIES[name]
        points: list[dict[str, Any]] = []
        point_skips: list[dict[str, Any]] = []
        for n in counts:
            if n > s.max_rules:
                reason = f"{s.name} cannot load {n} rules here (limit {s.max_rules})"
                point_skips.append({"rules": n, "reason": reason})
                if on_point:
                    on_point(name, n, None, reason)
                continue
            try:
                r = measure_row(Row(f"{name}-{n}", s.description, "terminal", s.make, rules=n), settings)
            except BenchError as e:
                point_skips.append({"rules": n, "reason": str(e)})
                if on_point:
                    on_point(name, n, None, str(e))
                continue
            points.append(
                {
                    "rules": n,
                    "mpps": r.mpps,
                    "min": r.min,
                    "max": r.max,
                    "ns_per_packet": sig(1000.0 / r.mpps) if r.mpps > 0 else None,
                    "foreign_load": r.details.get("foreign_load", []),
                }
            )
            if on_point:
                on_point(name, n, r.mpps, None)
        series_out.append(
            {"name": name, "description": s.description, "points": points, "skipped": point_skips}
        )
    return {"series": series_out, "skipped": skipped, "rule_counts": counts, "settings": asdict(settings)}
