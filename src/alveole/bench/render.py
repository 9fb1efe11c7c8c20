"""Benchmark results as Rich tables (terminal), markdown (results.md, docs) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = [
    "disturbance",
    "markdown_report",
    "plot_all",
    "progress_bar",
    "scaling_table",
    "startup_table",
    "startup_target",
    "throughput_table",
]


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.4g}"


# --- terminal ----------------------------------------------------------------------------


def progress_bar(total: int, label: str, console: Console) -> tuple[Progress, TaskID]:
    """A progress bar for long benchmark runs (use as a context manager)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    return progress, progress.add_task(label, total=total)


def throughput_table(data: dict[str, Any]) -> Table:
    t = Table(title="throughput: Mpps processed by the device under test (64-byte UDP)")
    for col, just in (
        ("row", "left"),
        ("Mpps", "right"),
        ("min", "right"),
        ("max", "right"),
        ("ns/pkt", "right"),
        ("what", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in data["results"]:
        ns = 1000 / r["mpps"] if r["mpps"] else None
        t.add_row(
            r["name"],
            _fmt(r["mpps"]),
            _fmt(r["min"]),
            _fmt(r["max"]),
            _fmt(ns),
            _describe(r.get("details", {})),
        )
    for s in data.get("skipped", []):
        t.add_row(s["name"], "[dim]-[/]", "", "", "", f"[dim]skipped: {s['reason']}[/]")
    return t


def _describe(details: dict[str, Any], keys: tuple[str, ...] = ("rules", "form", "program")) -> str:
    return ", ".join(f"{k}={details[k]}" for k in keys if k in details)


def ratio_table(data: dict[str, Any]) -> Table:
    t = Table(title="ratios (targets of the issue)")
    for col in ("ratio", "value", "target", "met"):
        t.add_column(col)
    for r in data.get("ratios", []):
        t.add_row(
            r["name"], _fmt(r["value"]), f"≥ {r['target']}", "[green]yes[/]" if r["met"] else "[red]no[/]"
        )
    return t


def scaling_table(data: dict[str, Any]) -> Table:
    counts = data["rule_counts"]
    t = Table(title="scaling: Mpps (ns/packet) against the number of rules")
    t.add_column("peer")
    for n in counts:
        t.add_column(f"{n:,}", justify="right")
    for s in data["series"]:
        by_n = {p["rules"]: p for p in s["points"]}
        cells = []
        for n in counts:
            p = by_n.get(n)
            cells.append(f"{_fmt(p['mpps'])} ({_fmt(p['ns_per_packet'])} ns)" if p else "[dim]-[/]")
        t.add_row(s["name"], *cells)
    for s in data.get("skipped", []):
        t.add_row(s["name"], *(["[dim]pending[/]"] * len(counts)))
    return t


_STARTUP_PHASES = (
    ("cold_ms", "cold: compile + load + fresh XDP attach"),
    ("warm_ms", "warm, into a live chain: cached object + load + slot insert"),
    ("first_packet_ms", "the same → first packet processed"),
    ("warm_attach_ms", "warm, fresh XDP attach: cached object + load + attach"),
    ("first_packet_attach_ms", "the same → first packet processed"),
)


def startup_target(data: dict[str, Any]) -> str | None:
    """The warm-start target line: measured on the chain-insert path, and says so."""
    warm, target = data.get("warm_ms_median"), data.get("target_warm_ms")
    if warm is None or target is None:
        return None
    met = "met" if warm <= target else "not met"
    line = f"target warm start ≤ {_fmt(target)} ms, on the {data.get('target_path', 'chain insert')} path: "
    line += f"{_fmt(warm)} ms (ratio to target {_fmt(warm / target)}), {met}"
    if data.get("warm_attach_ms_median") is not None:
        line += f"; by a fresh XDP attach {_fmt(data['warm_attach_ms_median'])} ms"
    return line


def startup_table(data: dict[str, Any]) -> Table:
    t = Table(title=f"start-up of the {data['vnf']} VNF (XDP on a veth), {data['samples']} samples")
    for col in ("phase", "median ms", "min", "max"):
        t.add_column(col, justify="right" if col != "phase" else "left")
    for key, label in _STARTUP_PHASES:
        if key in data:
            d = data[key]
            t.add_row(label, _fmt(d["median"]), _fmt(d["min"]), _fmt(d["max"]))
    stages = data.get("warm_attach_stages_ms_median", {})
    if stages:
        t.add_row(
            "[dim]warm by attach, stages[/]",
            "[dim]" + ", ".join(f"{k} {_fmt(v)}" for k, v in stages.items()) + "[/]",
            "",
            "",
        )
    if data.get("chain_create_ms") is not None:
        t.add_row(
            "[dim]chain created once (dispatcher attach)[/]", f"[dim]{_fmt(data['chain_create_ms'])}[/]"
        )
    return t


# --- markdown ------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def throughput_md(data: dict[str, Any]) -> str:
    rows = [
        [
            f"`{r['name']}`",
            _fmt(r["mpps"]),
            _fmt(r["min"]),
            _fmt(r["max"]),
            _fmt(1000 / r["mpps"] if r["mpps"] else None),
            _describe(r.get("details", {}), ("rules", "form", "program", "version")),
        ]
        for r in data["results"]
    ]
    rows += [
        [f"`{s['name']}`", "-", "-", "-", "-", f"skipped: {s['reason']}"] for s in data.get("skipped", [])
    ]
    text = _md_table(["row", "Mpps (median)", "min", "max", "ns/packet", "details"], rows)
    if data.get("ratios"):
        text += "\n\n" + _md_table(
            ["ratio", "value", "target", "met"],
            [
                [r["name"], _fmt(r["value"]), f"≥ {r['target']}", "yes" if r["met"] else "**no**"]
                for r in data["ratios"]
            ],
        )
    return text


def scaling_md(data: dict[str, Any]) -> str:
    counts = data["rule_counts"]
    rows = []
    for s in data["series"]:
        by_n = {p["rules"]: p for p in s["points"]}
        rows.append(
            [s["name"]]
            + [
                f"{_fmt(by_n[n]['mpps'])} ({_fmt(by_n[n]['ns_per_packet'])} ns)" if n in by_n else "-"
                for n in counts
            ]
        )
    rows += [[s["name"]] + ["pending"] * len(counts) for s in data.get("skipped", [])]
    return _md_table(["peer \\ rules"] + [f"{n:,}" for n in counts], rows)


def startup_md(data: dict[str, Any]) -> str:
    rows = [
        [label, _fmt(data[key]["median"]), _fmt(data[key]["min"]), _fmt(data[key]["max"])]
        for key, label in _STARTUP_PHASES
        if key in data
    ]
    text = _md_table(["phase", "median ms", "min", "max"], rows)
    stages = data.get("warm_attach_stages_ms_median", {})
    if stages:
        text += "\n\nWarm start by fresh XDP attach, by stage (median ms): " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in stages.items()
        )
    if data.get("chain_create_ms") is not None:
        text += f"\n\nChain created once on the hook (dispatcher attach): {_fmt(data['chain_create_ms'])} ms."
    target = startup_target(data)
    if target:
        text += f"\n\n{target[0].upper()}{target[1:]}."
    return text


def floor_md(data: dict[str, Any]) -> str:
    rows = [[k, _fmt(v) if isinstance(v, float | int) else str(v)] for k, v in data.items()]
    return _md_table(["measure", "value"], rows)


def markdown_report(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    parts = [
        f"# alveole benchmarks, {results.get('date', '')}",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs, kernel {m.get('kernel', '?')}."
        + (" Quick mode (small counts, single runs): not figures to quote." if results.get("quick") else ""),
        "",
    ]
    sections = (
        ("Throughput", "throughput", throughput_md),
        ("Scaling with the number of rules", "scaling", scaling_md),
        ("Start-up", "startup", startup_md),
        ("Floor (test_run, batch inserts)", "floor", floor_md),
    )
    loads = disturbance(results)
    if loads:
        parts += [
            f"**Disturbed run**: other processes kept the benchmark's idle CPU busy during "
            f"{len(loads)} measured runs (up to {max(loads):.0%}): these figures are not to be quoted.",
            "",
        ]
    for title, key, fn in sections:
        if key not in results:
            continue
        parts += [f"## {title}", ""]
        value = results[key]
        parts.append(
            f"skipped: {value['error']}" if isinstance(value, dict) and "error" in value else fn(value)
        )
        parts.append("")
    if "pktcost" in results:
        parts += ["## Per-packet cost (pktcost)", "", generic_md(results["pktcost"]), ""]
    return "\n".join(parts)


def disturbance(results: dict[str, Any], threshold: float = 0.1) -> list[float]:
    """Foreign CPU loads above ``threshold`` seen during kept runs (throughput and scaling)."""
    loads: list[float] = []
    for r in results.get("throughput", {}).get("results", []):
        loads += r.get("details", {}).get("foreign_load", [])
    for s in results.get("scaling", {}).get("series", []):
        for p in s.get("points", []):
            loads += p.get("foreign_load", [])
    return [x for x in loads if x > threshold]


def generic_md(data: Any) -> str:
    """Another module's results: its scalar fields, and its ``results`` rows as a table."""
    if not isinstance(data, dict):
        return f"```json\n{json.dumps(data, indent=1)}\n```"
    if "error" in data:
        return f"skipped: {data['error']}"
    scalars = [
        f"{k} = {_fmt(v) if isinstance(v, float) else v}"
        for k, v in data.items()
        if isinstance(v, str | int | float)
    ]
    text = ", ".join(scalars)
    rows = data.get("results")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        cols = [k for k, v in rows[0].items() if isinstance(v, str | int | float | type(None))]
        table = _md_table(
            cols,
            [
                [_fmt(r.get(c)) if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
                for r in rows
            ],
        )
        text = f"{text}\n\n{table}" if text else table
    return text


# --- plots -----------------------------------------------------------------------------------


def plot_all(results: dict[str, Any], outdir: Path) -> list[Path]:
    """PNG plots of the throughput rows, the scaling curves and the start-up phases."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        from .dut import BenchError

        raise BenchError("plots need matplotlib (pip install matplotlib)") from e
    written: list[Path] = []
    tp = results.get("throughput")
    if tp and tp.get("results"):
        rows = tp["results"]
        fig, ax = plt.subplots(figsize=(8, 4))
        names = [r["name"] for r in rows]
        values = [r["mpps"] for r in rows]
        errs = [[r["mpps"] - r["min"] for r in rows], [r["max"] - r["mpps"] for r in rows]]
        ax.barh(names, values, xerr=errs, color="#3b7dd8")
        ax.set_xscale("log")
        ax.set_xlabel("Mpps processed (log scale, median of runs, whiskers min-max)")
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {_fmt(v)}", va="center", fontsize=8)
        ax.set_title("Throughput, 64-byte UDP")
        fig.tight_layout()
        written.append(_save(fig, outdir / "throughput.png", plt))
    sc = results.get("scaling")
    if sc and any(s["points"] for s in sc.get("series", [])):
        fig, ax = plt.subplots(figsize=(7, 4))
        for s in sc["series"]:
            if s["points"]:
                ax.plot(
                    [p["rules"] for p in s["points"]],
                    [p["mpps"] for p in s["points"]],
                    marker="o",
                    label=s["name"],
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rules")
        ax.set_ylabel("Mpps processed")
        ax.set_title("Scaling with the number of rules")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, outdir / "scaling.png", plt))
    st = results.get("startup")
    if st and "cold_ms" in st:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = {
            "cold_ms": "cold",
            "warm_ms": "warm\n(chain)",
            "first_packet_ms": "first packet\n(chain)",
            "warm_attach_ms": "warm\n(attach)",
            "first_packet_attach_ms": "first packet\n(attach)",
        }
        keys = [k for k in names if k in st]
        labels = [names[k] for k in keys]
        med = [st[k]["median"] for k in keys]
        errs = [
            [st[k]["median"] - st[k]["min"] for k in keys],
            [st[k]["max"] - st[k]["median"] for k in keys],
        ]
        ax.bar(labels, med, yerr=errs, color="#d8873b")
        ax.axhline(st.get("target_warm_ms", 5.0), color="grey", linestyle="--", label="warm target (chain)")
        ax.set_ylabel("ms (median, whiskers min-max)")
        ax.set_title(f"Start-up of the {st['vnf']} VNF")
        ax.legend()
        fig.tight_layout()
        written.append(_save(fig, outdir / "startup.png", plt))
    return written


def _save(fig: Any, path: Path, plt: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
