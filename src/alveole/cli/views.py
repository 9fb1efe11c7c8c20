"""Rich renderings shared by CLI commands and the demo."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from ..vnf.flowmon.flows import By, Flow, top_flows, top_talkers

__all__ = ["talkers_tables"]


def talkers_tables(all_flows: Iterable[Flow], n: int = 5, by: By = "packets") -> list[Table]:
    """Top sources (flows summed) and top flows, by packets or bytes."""
    fl = list(all_flows)
    t = Table(title=f"top talkers ({len(fl)} flows in the flow monitor)", title_justify="left")
    for col in ("source", "flows", "packets", "bytes"):
        t.add_column(col, justify="left" if col == "source" else "right")
    for talker in top_talkers(fl, n, by=by):
        t.add_row(str(talker.value), f"{talker.flows:,}", f"{talker.packets:,}", f"{talker.bytes:,}")
    t2 = Table(title="top flows", title_justify="left")
    for col in ("flow", "packets", "bytes"):
        t2.add_column(col, justify="left" if col == "flow" else "right", no_wrap=col == "flow")
    for f in top_flows(fl, n, by=by):
        t2.add_row(str(f.key), f"{f.packets:,}", f"{f.bytes:,}")
    return [t, t2]
