"""Rendering of benchmark results: markdown tables, the disturbance warning, PNG plots."""

from __future__ import annotations

from pathlib import Path

from alveole.bench.render import disturbance, markdown_report, plot_all

from ..conftest import require


def _results(foreign: float = 0.01) -> dict:
    row = {
        "name": "xdp-drop",
        "mpps": 16.2,
        "min": 16.0,
        "max": 16.3,
        "runs": [16.0, 16.2, 16.3],
        "offered_mpps": 16.2,
        "details": {"foreign_load": [foreign, 0.0, 0.0]},
    }
    slow = dict(row, name="iptables-1k", mpps=0.094, min=0.09, max=0.095, details={"rules": 1000})
    phase = {"median": 2.0, "min": 1.5, "max": 3.0}
    return {
        "date": "2026-01-01T00:00:00",
        "quick": False,
        "machine": {"cpu": "test", "cpus": 2, "kernel": "6.18"},
        "throughput": {
            "results": [row, slow],
            "skipped": [{"name": "chain3", "reason": "pending: needs the chain"}],
            "ratios": [{"name": "a / b", "value": 2.0, "target": 3.0, "met": False}],
        },
        "scaling": {
            "rule_counts": [10, 100],
            "series": [{"name": "iptables", "points": [{"rules": 10, "mpps": 3.0, "ns_per_packet": 333.3}]}],
            "skipped": [],
        },
        "startup": {
            "vnf": "selfcheck",
            "samples": 3,
            "cold_ms": phase,
            "warm_ms": phase,
            "first_packet_ms": phase,
            "warm_attach_ms": {"median": 15.0, "min": 8.0, "max": 20.0},
            "first_packet_attach_ms": phase,
            "warm_ms_median": 2.0,
            "warm_attach_ms_median": 15.0,
            "target_warm_ms": 5.0,
            "target_path": "chain insert",
        },
        "pktcost": {"error": "skipped (--skip)"},
    }


def test_markdown_has_every_section_and_the_skips() -> None:
    md = markdown_report(_results())
    for text in (
        "## Throughput",
        "`xdp-drop` | 16.20",
        "rules=1000",
        "skipped: pending: needs the chain",
        "| a / b | 2.00 | ≥ 3.0 | **no** |",
        "## Scaling",
        "## Start-up",
        "| warm, into a live chain: cached object + load + slot insert | 2.00 |",
        "| warm, fresh XDP attach: cached object + load + attach | 15.00 |",
        "on the chain insert path: 2.00 ms (ratio to target 0.4), met; by a fresh XDP attach 15.00 ms",
        "skipped: skipped (--skip)",
    ):
        assert text in md, text
    assert "Disturbed run" not in md


def test_a_disturbed_run_is_flagged() -> None:
    assert disturbance(_results(foreign=0.5)) == [0.5]
    assert "Disturbed run" in markdown_report(_results(foreign=0.5))


def test_plots_are_written(tmp_path: Path) -> None:
    try:
        import matplotlib  # noqa: F401

        have = True
    except ImportError:
        have = False
    require(have, "plots need matplotlib")
    written = plot_all(_results(), tmp_path)
    assert {p.name for p in written} == {"throughput.png", "scaling.png", "startup.png"}
    assert all(p.stat().st_size > 1000 for p in written)
