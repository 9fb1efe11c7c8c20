"""What the demo reads from the kernel and how it shows it: per-hop counters, top talkers,
firewall rule hits, DDoS drops. Everything comes from the chain's pinned maps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.table import Table

from ..bpf import Map
from ..cli.views import talkers_tables
from ..datapath import ChainId, ChainPaths
from ..mano.reports import ChainReport
from ..vnf.ddos.state import Reason
from ..vnf.firewall.config import FirewallConfig
from ..vnf.firewall.tables import default_hits, rule_hits
from ..vnf.flowmon.flows import Flow, read_flows

__all__ = [
    "MemberMaps",
    "flows",
    "guard_drops",
    "hop_table",
    "member_maps",
    "rules_table",
    "talkers_tables",
]


class MemberMaps:
    """A chain member's state maps, opened from their pins (what the readers expect as ``.maps``)."""

    def __init__(self, maps: dict[str, Map]) -> None:
        self.maps = maps


@contextlib.contextmanager
def member_maps(cid: ChainId, instance: str) -> Iterator[MemberMaps]:
    directory = ChainPaths(cid).member_dir(instance) / "maps"
    maps = {p.name: Map.from_pin(str(p)) for p in sorted(directory.iterdir())}
    try:
        yield MemberMaps(maps)
    finally:
        for m in maps.values():
            m.close()


def flows(cid: ChainId, instance: str) -> list[Flow]:
    with member_maps(cid, instance) as mm:
        return read_flows(mm)  # type: ignore[arg-type]


def guard_drops(cid: ChainId, instance: str) -> dict[str, int]:
    """Packets the DDoS guard dropped, by reason."""
    with member_maps(cid, instance) as mm:
        m = mm.maps["ddos_drops"]
        return {r.label: int(m[int(r)].sum().packets) for r in Reason}


_COLUMNS = ("continue", "pass", "redirect", "drop")  # verdicts shown (pass: to the kernel's stack)


def hop_table(report: ChainReport, before: ChainReport | None = None) -> Table:
    """One row per hop: packets by verdict (since ``before`` when given)."""
    title = f"chain {report.chain} ({report.forwarding_path}), end: {report.view.end if report.view else '?'}"
    t = Table(title=title, title_justify="left")
    for col in ("hop", "VNF", "version", "prog", *_COLUMNS):
        t.add_column(col, justify="left" if col in ("hop", "VNF", "version") else "right")
    old = {m["vnfProfileId"]: m for m in before.as_dict()["members"]} if before else {}
    for m in report.as_dict()["members"]:
        prev = old.get(m["vnfProfileId"], {}).get("counters", {})

        def delta(verdict: str, m: dict = m, prev: dict = prev) -> str:
            now = m["counters"].get(verdict, {}).get("packets", 0)
            return f"{now - prev.get(verdict, {}).get('packets', 0):,}"

        t.add_row(m["vnfProfileId"], m["vnf"], m["version"], str(m["progId"]), *map(delta, _COLUMNS))
    return t


def rules_table(cid: ChainId, instance: str, cfg: FirewallConfig) -> Table:
    t = Table(title=f"firewall rules ({instance}), first match wins", title_justify="left")
    for col in ("#", "id", "rule", "hits"):
        t.add_column(col, justify="right" if col in ("#", "hits") else "left")
    with member_maps(cid, instance) as mm:
        for h in rule_hits(mm, cfg):
            t.add_row(str(h.index), h.rule.id or "", h.rule.describe(), f"{h.packets:,}")
        t.add_row("", "", f"default: {cfg.default}", f"{default_hits(mm)[0]:,}")
    return t
